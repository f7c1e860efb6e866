package cli

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseInterspersed: flags anywhere among the query's terms, with
// their values; exclusions (-action:x) are terms, not flags.
func TestParseInterspersed(t *testing.T) {
	for _, c := range []struct {
		args  []string
		terms []string
		limit int
		json  bool
	}{
		{[]string{"action:update", "--limit", "5", "-action:*.view"}, []string{"action:update", "-action:*.view"}, 5, false},
		{[]string{"-action:*.view", "-limit=7", "-json"}, []string{"-action:*.view"}, 7, true},
		{[]string{"--data", "/x:y", `-"two words"`, "-actor:User:1,User:2"}, []string{`-"two words"`, "-actor:User:1,User:2"}, 0, false},
		{[]string{"-json", "--", "-limit", "x"}, []string{"-limit", "x"}, 0, true},
		{[]string{"-", "a"}, []string{"-", "a"}, 0, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limit := fs.Int("limit", 0, "")
		js := fs.Bool("json", false, "")
		data := fs.String("data", "", "")
		terms, err := parseInterspersed(fs, c.args)
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if !slices.Equal(terms, c.terms) || *limit != c.limit || *js != c.json {
			t.Errorf("%q: terms %q limit %d json %v", c.args, terms, *limit, *js)
		}
		if slices.Contains(c.args, "/x:y") && *data != "/x:y" {
			t.Errorf("%q: data %q", c.args, *data)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"-nosuchflag"}); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

func TestParseDays(t *testing.T) {
	from, to, err := parseDays("2024-08-01", "")
	if err != nil || from.Format(time.DateOnly) != "2024-08-01" || !to.IsZero() {
		t.Fatalf("%v %v %v", from, to, err)
	}
	var ee *exitError
	if _, _, err := parseDays("", "yesterday"); !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `--until "yesterday"`) {
		t.Fatalf("bad day: %v", err)
	}
}

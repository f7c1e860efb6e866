package index

import (
	"fmt"
	"testing"

	"github.com/kansa-audit/kansa/internal/event"
)

// TestKeyDecoder: the index's decoder reads what the full decoder reads of
// every field the index keeps, for the workload's lines and for others:
// escapes, integer ids, offsets and other time forms, nulls, absent parts,
// fields it does not read.
func TestKeyDecoder(t *testing.T) {
	lines := workload(t, 2000)
	for _, l := range keyDecoderLines {
		lines = append(lines, []byte(l))
	}
	for i, l := range lines {
		checkKeyDecoder(t, i, l)
	}
}

// keyDecoderLines are lines TestKeyDecoder and FuzzKeyDecoder start from.
var keyDecoderLines = []string{
	`{"schema":"kansa.audit/v1","id":"a\u0062c","time":"2024-08-06T18:00:59.981+09:00","time_offset":"+09:00","action":"up\"date","actor":{"type":"User","id":42,"name":"x"},"target":{"type":"Admin::Setting","id":"17","table":"settings"},"context":{"host":"h","user_agent":"curl/8 \u00e9","request_id":"r-1","endpoint":"GET /"},"source":"app","tenant":"acme","outcome":"failure"}`,
	`{"id":"n1","time":"2024-02-29T23:59:59.999999Z","action":"x","actor":null,"target":null,"context":null,"source":"s"}`,
	`{"id":"n2","time":"1969-12-31T23:59:59.000001Z","action":"x","changes":{"a":[1,{"b":"}"}]},"meta":{"k":"v"},"custom":1}`,
	`{"id":"n3","time":"2024-08-06 09:00:00.5 +0200","action":"x","actor":{"id":"7"},"target":{"type":"T"},"context":{}}`,
	`{"id":"n4","time":"2023-02-30T00:00:00.000000Z","action":"x"}`,
	`{"id":"n5","time":"2024-01-01T00:00:00.000000Z","action":"x","actor":{"type":"User","id":"1"},"seq":{"stream":"s","n":3},"received_at":"2024-01-01T00:00:01Z"}`,
	`{"id":"n6","time":"2024-01-01T00:00:00Z","action":"x","actor":{"type":"User","id":"1.5"}}`,
	`{"id":"n7","time":"2024-01-01T00:00:00Z","action":"x","actor":{"type":"User","id":"1"},"actor":null,"target":null,"target":{"type":"T","id":"2"},"context":{"request_id":"a"},"context":null}`,
}

// checkKeyDecoder: the index's decoder reads line as the full decoder
// does when the full decoder accepts it, and never panics.
func checkKeyDecoder(t *testing.T, i int, l []byte) {
	t.Helper()
	var full event.Decoder
	var kd keyDecoder
	got, gerr := kd.decode(l)
	want, werr := full.Decode(l)
	if werr != nil {
		return // the index never sees a line the full decoder refuses
	}
	if gerr != nil {
		t.Fatalf("line %d %s: the index's decoder refuses it: %v", i, l, gerr)
	}
	if w, g := keyFieldsOf(want), keyFieldsOf(got); w != g {
		t.Fatalf("line %d %s:\n index's %s\n want    %s", i, l, g, w)
	}
}

// FuzzKeyDecoder: on any input the index's decoder ends without reading
// past the line, and agrees with the full decoder on lines it accepts.
func FuzzKeyDecoder(f *testing.F) {
	for _, l := range keyDecoderLines {
		f.Add([]byte(l))
	}
	for _, l := range workload(f, 50) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkKeyDecoder(t, 0, line)
	})
}

func keyFieldsOf(e *event.Event) string {
	s := fmt.Sprintf("id=%q us=%d day=%d action=%q source=%q tenant=%q outcome=%q ua=%q req=%q",
		e.ID, e.Time.UnixMicro(), epochDay(e.Time), e.Action, e.Source, e.Tenant, e.Outcome, e.Context.UserAgent, e.Context.RequestID)
	if e.Actor != nil {
		s += fmt.Sprintf(" actor=%q:%q", e.Actor.Type, e.Actor.ID)
	}
	if e.Target != nil {
		s += fmt.Sprintf(" target=%q:%q", e.Target.Type, e.Target.ID)
	}
	return s
}

func BenchmarkKeyDecoder(b *testing.B) {
	lines := workload(b, 1<<16)
	var full event.Decoder
	var kd keyDecoder
	for _, how := range []string{"index", "full"} {
		b.Run(how, func(b *testing.B) {
			for b.Loop() {
				for _, l := range lines {
					var err error
					if how == "index" {
						_, err = kd.decode(l)
					} else {
						_, err = full.Decode(l)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/event")
		})
	}
}

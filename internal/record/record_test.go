package record

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestEntryRoundTrip(t *testing.T) {
	tm := time.Date(2024, 8, 6, 18, 0, 59, 981000000, time.FixedZone("", 9*3600))
	rec := AppendEntry(nil, TypeEvent, tm, "acme", "app:kakari", "s1", 7, []byte(`{"a":1}`))
	e, err := ParseEntry(rec)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != TypeEvent || e.Time != tm.UnixMicro() || string(e.Tenant) != "acme" || string(e.Source) != "app:kakari" || string(e.Stream) != "s1" || e.N != 7 || string(e.Body) != `{"a":1}` {
		t.Fatalf("%+v", e)
	}
	for i := 0; i < len(rec)-len(`{"a":1}`); i++ {
		if _, err := ParseEntry(rec[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d: %v", i, err)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	b := Batch{Sink: "archive", First: 7, Last: 1 << 40, Closed: time.UnixMicro(1722934859981000).UTC()}
	got, err := ParseBatch(AppendBatch(nil, b))
	if err != nil || got != b {
		t.Fatalf("%+v %v", got, err)
	}
	bad := AppendBatch(nil, Batch{Sink: "x", First: 9, Last: 3})
	if _, err := ParseBatch(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("first > last accepted: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(AppendEntry(nil, TypeReject, time.Unix(1, 0), "t", "s", "", 0, []byte("x")))
	f.Add(AppendBatch(nil, Batch{Sink: "a", First: 1, Last: 2}))
	f.Fuzz(func(t *testing.T, rec []byte) {
		switch TypeOf(rec) {
		case TypeBatch:
			if b, err := ParseBatch(rec); err == nil {
				if again, err := ParseBatch(AppendBatch(nil, b)); err != nil || again != b {
					t.Fatalf("batch %+v does not round-trip: %+v %v", b, again, err)
				}
			}
		default:
			if e, err := ParseEntry(rec); err == nil {
				again := AppendEntry(nil, e.Type, time.UnixMicro(e.Time), string(e.Tenant), string(e.Source), string(e.Stream), e.N, e.Body)
				e2, err := ParseEntry(again)
				if err != nil || e2.Time != e.Time || !bytes.Equal(e2.Tenant, e.Tenant) || !bytes.Equal(e2.Source, e.Source) || !bytes.Equal(e2.Stream, e.Stream) || e2.N != e.N || !bytes.Equal(e2.Body, e.Body) {
					t.Fatalf("entry does not round-trip: %v", err)
				}
			}
		}
	})
}

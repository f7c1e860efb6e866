// Package metrics is a small registry of counters and gauges exposed in the
// Prometheus text format. Counters are lock-free; the registry is built at
// start-up and read on each scrape.
package metrics

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter only goes up. Safe for concurrent use.
type Counter struct{ v atomic.Uint64 }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

type series struct {
	labels  string // rendered {k="v",...} or ""
	counter *Counter
	gauge   func() float64
}

type family struct {
	name, help, typ string
	series          []*series
}

// Registry holds metric families. Safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

func (r *Registry) family(name, help, typ string) *family {
	f := r.families[name]
	if f == nil {
		f = &family{name: name, help: help, typ: typ}
		r.families[name] = f
	}
	return f
}

// Counter returns the counter name{labels}, creating it on first use.
// labels are alternating names and values.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.family(name, help, "counter")
	l := renderLabels(labels)
	for _, s := range f.series {
		if s.labels == l && s.counter != nil {
			return s.counter
		}
	}
	c := new(Counter)
	f.series = append(f.series, &series{labels: l, counter: c})
	return c
}

// Gauge registers a gauge whose value fn reads at scrape time. fn must be
// safe to call from any goroutine.
func (r *Registry) Gauge(name, help string, fn func() float64, labels ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.family(name, help, "gauge")
	f.series = append(f.series, &series{labels: renderLabels(labels), gauge: fn})
}

func renderLabels(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	kv = kv[:len(kv)&^1] // a dangling name without a value is ignored
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// WriteText writes every family in the Prometheus text exposition format,
// families sorted by name.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	sort.Strings(names)
	fams := make([]family, 0, len(names))
	for _, n := range names {
		f := r.families[n]
		fams = append(fams, family{name: f.name, help: f.help, typ: f.typ, series: append([]*series(nil), f.series...)})
	}
	r.mu.Unlock()
	var b []byte
	for _, f := range fams {
		b = fmt.Appendf(b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, s := range f.series {
			b = append(b, f.name...)
			b = append(b, s.labels...)
			b = append(b, ' ')
			if s.counter != nil {
				b = strconv.AppendUint(b, s.counter.Value(), 10)
			} else {
				b = strconv.AppendFloat(b, s.gauge(), 'g', -1, 64)
			}
			b = append(b, '\n')
		}
	}
	_, err := w.Write(b)
	return err
}

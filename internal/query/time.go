package query

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The instants a time value may reach: events have years 1 to 9999, and a
// zero Until would mean "no bound", so no span may start at or before the
// zero time.
var (
	minTime = time.Time{}
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// addCreated narrows q's time window by one created value. Relative times
// count back from now.
func (q *Query) addCreated(v string, loc *time.Location, now time.Time) error {
	var since, until time.Time
	op := ""
	for _, o := range []string{">=", "<=", ">", "<", "="} {
		if strings.HasPrefix(v, o) {
			op, v = o, v[len(o):]
			break
		}
	}
	if lo, hi, ok := strings.Cut(v, ".."); ok {
		if op != "" {
			return fmt.Errorf("use an operator (>=, >, <=, <, =) or a range (T1..T2), not both, in %s", op+v)
		}
		if lo == "" || hi == "" {
			return fmt.Errorf("range %s needs both ends; use * for an open end, as in created:2024-08-01..*", v)
		}
		if lo != "*" {
			start, _, err := parseTime(lo, loc, now)
			if err != nil {
				return err
			}
			since = start
		}
		if hi != "*" {
			_, end, err := parseTime(hi, loc, now)
			if err != nil {
				return err
			}
			until = end
		}
		if !since.IsZero() && !until.IsZero() && !since.Before(until) {
			return fmt.Errorf("range %s ends before it starts", v)
		}
	} else {
		start, end, err := parseTime(v, loc, now)
		if err != nil {
			return err
		}
		switch op {
		case ">=":
			since = start
		case ">":
			since = end
		case "<=":
			until = end
		case "<":
			until = start
		default: // "=" or none
			since, until = start, end
		}
	}
	if !since.IsZero() && since.After(q.Since) {
		q.Since = since.UTC()
	}
	if !until.IsZero() && (q.Until.IsZero() || until.Before(q.Until)) {
		q.Until = until.UTC()
	}
	return nil
}

var errNotTime = errors.New("not a time")

// parseTime reads a date, a time or a time relative to now, and returns
// the span it writes out: [start, end), where end is start plus one unit of
// the last field written (a day, an hour, a minute, a second, or a unit of
// the last fractional digit; a second for a relative time).
//
// The forms are YYYY-MM-DD, optionally followed by THH, THH:MM, THH:MM:SS or
// THH:MM:SS.F (1 to 9 digits), and after a time optionally Z or ±HH:MM. A
// value without an offset is read in loc. The relative forms are now and
// now-N followed by a unit (see parseRelative).
func parseTime(s string, loc *time.Location, now time.Time) (start, end time.Time, err error) {
	if strings.HasPrefix(s, "now") {
		start, err = parseRelative(s, now)
		if err != nil {
			return start, end, err
		}
		end = start.Add(time.Second)
	} else {
		start, end, err = parseSpan(s, loc)
		if err != nil {
			return start, end, fmt.Errorf("%q is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), RFC 3339 (2024-08-01T09:00:00+09:00), or a time before now (now-7d)", s)
		}
	}
	if !start.After(minTime) || end.After(maxTime) {
		return start, end, fmt.Errorf("%q is out of range (years 0001 to 9999)", s)
	}
	return start, end, nil
}

// Units of relative times, in seconds. A day is 24 hours and a week 7 days
// whatever the time zone, so relative times do not depend on it.
var relativeUnits = map[byte]int64{'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}

// maxRelative bounds N*unit (in seconds) to more than the years 1 to 9999,
// before it could overflow.
const maxRelative = 10000 * 366 * 86400

// parseRelative reads now or now-N<unit> (units s, m, h, d, w) and returns
// the start of the second it names. now is read to the second: now-7d is the
// whole second seven days before the current one.
func parseRelative(s string, now time.Time) (time.Time, error) {
	base := now.UTC().Truncate(time.Second)
	if s == "now" {
		return base, nil
	}
	bad := fmt.Errorf("%q is not a time before now; want now, or now- a number and a unit (s, m, h, d or w), as in now-7d or now-12h", s)
	rest, ok := strings.CutPrefix(s, "now-")
	if !ok || len(rest) < 2 {
		return time.Time{}, bad
	}
	unit, ok := relativeUnits[rest[len(rest)-1]]
	if !ok {
		return time.Time{}, bad
	}
	var n int64
	for _, c := range []byte(rest[:len(rest)-1]) {
		if c < '0' || c > '9' {
			return time.Time{}, bad
		}
		n = n*10 + int64(c-'0')
		if n*unit > maxRelative {
			return time.Time{}, fmt.Errorf("%q is out of range (years 0001 to 9999)", s)
		}
	}
	return time.Unix(base.Unix()-n*unit, 0).UTC(), nil
}

func parseSpan(s string, loc *time.Location) (start, end time.Time, err error) {
	p := timeParser{s: s}
	year := p.digits(4, 0, 9999)
	p.expect('-')
	month := p.digits(2, 1, 12)
	p.expect('-')
	day := p.digits(2, 1, 31)
	if p.bad {
		return start, end, errNotTime
	}
	if day > daysIn(time.Month(month), year) {
		return start, end, errNotTime
	}
	hour, minute, sec, nsec := 0, 0, 0, 0
	unit := time.Duration(0) // 0: a whole day
	if p.more() && (p.peek() == 'T' || p.peek() == 't') {
		p.i++
		hour, unit = p.digits(2, 0, 23), time.Hour
		if p.accept(':') {
			minute, unit = p.digits(2, 0, 59), time.Minute
			if p.accept(':') {
				sec, unit = p.digits(2, 0, 59), time.Second
				if p.accept('.') {
					n := 0
					for p.more() && p.peek() >= '0' && p.peek() <= '9' && n < 9 {
						nsec = nsec*10 + int(p.peek()-'0')
						p.i++
						n++
					}
					if n == 0 {
						p.bad = true
					}
					unit = time.Second
					for range n {
						unit /= 10
					}
					nsec *= int(unit)
				}
			}
		}
		if p.more() {
			switch c := p.peek(); c {
			case 'Z', 'z':
				p.i++
				loc = time.UTC
			case '+', '-':
				p.i++
				oh := p.digits(2, 0, 23)
				p.expect(':')
				om := p.digits(2, 0, 59)
				off := oh*3600 + om*60
				if c == '-' {
					off = -off
				}
				loc = time.FixedZone("", off)
			}
		}
	}
	if p.bad || p.more() {
		return start, end, errNotTime
	}
	start = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if unit == 0 {
		end = time.Date(year, time.Month(month), day+1, 0, 0, 0, 0, loc)
	} else {
		end = start.Add(unit)
	}
	return start, end, nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// timeParser reads fixed-width fields; once a read fails, bad stays set and
// later reads are no-ops.
type timeParser struct {
	s   string
	i   int
	bad bool
}

func (p *timeParser) more() bool { return !p.bad && p.i < len(p.s) }
func (p *timeParser) peek() byte { return p.s[p.i] }

func (p *timeParser) accept(c byte) bool {
	if p.more() && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *timeParser) expect(c byte) {
	if !p.accept(c) {
		p.bad = true
	}
}

func (p *timeParser) digits(n, lo, hi int) int {
	if p.bad || p.i+n > len(p.s) {
		p.bad = true
		return 0
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if c < '0' || c > '9' {
			p.bad = true
			return 0
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	if v < lo || v > hi {
		p.bad = true
	}
	return v
}

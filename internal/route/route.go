package route

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// Destination is where a routed line goes.
type Destination uint8

const (
	App   Destination = iota // the application-log sink, byte for byte
	Audit                    // mapped to an event and written to the WAL
)

func (d Destination) String() string {
	if d == Audit {
		return "audit"
	}
	return "app"
}

func parseDestination(s string) (Destination, error) {
	switch s {
	case "audit":
		return Audit, nil
	case "app", "":
		return App, nil
	}
	return App, fmt.Errorf("unknown destination %q (want audit or app)", s)
}

// Config is the routes section of the config file.
type Config struct {
	// Rules are tried in order; the first that matches decides. Empty means
	// the shipped rules (see DefaultRules).
	Rules []Rule `yaml:"rules"`
	// Default is where a line goes that no rule matches: app (the default)
	// or audit.
	Default string `yaml:"default"`
}

// Rule sends lines that meet all its conditions to one destination.
type Rule struct {
	// Name identifies the rule in metrics (kansa_routed_total{route=…}).
	Name string `yaml:"name"`
	// When lists conditions that must all hold. A rule with none matches
	// every line.
	When []Cond `yaml:"when"`
	// To is audit or app.
	To string `yaml:"to"`
	// Format is how an audit line is mapped: auto (the default), kansa or
	// auditloggable.
	Format string `yaml:"format"`
}

// Cond is one condition. Set Field and exactly one of Exists, Type, Equals
// and Matches; or leave Field empty and set Matches to test the raw line.
type Cond struct {
	// Field is a dotted path into a JSON object line: "record" or
	// "record.action". Empty means the whole raw line.
	Field string `yaml:"field"`
	// Exists tests presence of the field (null counts as present).
	Exists *bool `yaml:"exists"`
	// Type tests the field's JSON type: object, array, string, number, bool
	// or null.
	Type string `yaml:"type"`
	// Equals tests the field's value: a string, number or bool.
	Equals any `yaml:"equals"`
	// Matches is an RE2 regular expression tested against a string field's
	// decoded value, another field's JSON text, or the raw line.
	Matches string `yaml:"matches"`
}

// DefaultRules are the shipped rules.
func DefaultRules() []Rule {
	return []Rule{
		{Name: "auditloggable", When: []Cond{{Field: "record", Type: "object"}}, To: "audit", Format: "auditloggable"},
		{Name: "kansa", When: []Cond{{Field: "schema", Equals: "kansa.audit/v1"}}, To: "audit", Format: "kansa"},
	}
}

// Router holds compiled rules. It is immutable and safe for concurrent use;
// per-goroutine scratch lives in a Classifier.
type Router struct {
	rules []rule
	def   Destination
}

// Decision is the outcome of routing one line.
type Decision struct {
	To     Destination
	Rule   int            // index into Names(); len(rules) for the default
	Format mapping.Format // for Audit
}

type rule struct {
	name   string
	conds  []cond
	to     Destination
	format mapping.Format
}

type condKind uint8

const (
	condExists condKind = iota
	condType
	condEqualsString
	condEqualsRaw
	condMatches
)

type cond struct {
	path   []string // nil: the raw line
	kind   condKind
	exists bool
	typ    rawjson.Kind
	str    string
	raw    []byte
	re     *regexp.Regexp
}

// New compiles cfg. Errors name the rule and condition at fault.
func New(cfg Config) (*Router, error) {
	rules := cfg.Rules
	if len(rules) == 0 {
		rules = DefaultRules()
	}
	def, err := parseDestination(cfg.Default)
	if err != nil {
		return nil, fmt.Errorf("routes.default: %w", err)
	}
	r := &Router{def: def}
	for i, rc := range rules {
		where := fmt.Sprintf("routes.rules[%d]", i)
		if rc.Name != "" {
			where += fmt.Sprintf(" (%s)", rc.Name)
		}
		cr := rule{name: rc.Name}
		if cr.name == "" {
			cr.name = fmt.Sprintf("rule%d", i)
		}
		if rc.To == "" {
			return nil, fmt.Errorf("%s: to: required (audit or app)", where)
		}
		if cr.to, err = parseDestination(rc.To); err != nil {
			return nil, fmt.Errorf("%s: to: %w", where, err)
		}
		if cr.format, err = mapping.ParseFormat(rc.Format); err != nil {
			return nil, fmt.Errorf("%s: format: %w", where, err)
		}
		for j, c := range rc.When {
			cc, err := compileCond(c)
			if err != nil {
				return nil, fmt.Errorf("%s: when[%d]: %w", where, j, err)
			}
			cr.conds = append(cr.conds, cc)
		}
		r.rules = append(r.rules, cr)
	}
	return r, nil
}

func compileCond(c Cond) (cond, error) {
	var cc cond
	if c.Field != "" {
		cc.path = strings.Split(c.Field, ".")
		for _, p := range cc.path {
			if p == "" {
				return cc, fmt.Errorf("field %q: empty path element", c.Field)
			}
		}
	}
	n := 0
	if c.Exists != nil {
		n++
		cc.kind, cc.exists = condExists, *c.Exists
	}
	if c.Type != "" {
		n++
		cc.kind = condType
		switch c.Type {
		case "object":
			cc.typ = rawjson.Object
		case "array":
			cc.typ = rawjson.Array
		case "string":
			cc.typ = rawjson.String
		case "number":
			cc.typ = rawjson.Number
		case "bool", "boolean":
			cc.typ = rawjson.Bool
		case "null":
			cc.typ = rawjson.Null
		default:
			return cc, fmt.Errorf("type %q: want object, array, string, number, bool or null", c.Type)
		}
	}
	if c.Equals != nil {
		n++
		switch v := c.Equals.(type) {
		case string:
			cc.kind, cc.str = condEqualsString, v
		case bool:
			cc.kind, cc.raw = condEqualsRaw, []byte(strconv.FormatBool(v))
		case int:
			cc.kind, cc.raw = condEqualsRaw, []byte(strconv.Itoa(v))
		case int64:
			cc.kind, cc.raw = condEqualsRaw, []byte(strconv.FormatInt(v, 10))
		case uint64:
			cc.kind, cc.raw = condEqualsRaw, []byte(strconv.FormatUint(v, 10))
		case float64:
			cc.kind, cc.raw = condEqualsRaw, []byte(strconv.FormatFloat(v, 'g', -1, 64))
		default:
			return cc, fmt.Errorf("equals: want a string, number or bool, got %T", c.Equals)
		}
	}
	if c.Matches != "" {
		n++
		re, err := regexp.Compile(c.Matches)
		if err != nil {
			return cc, fmt.Errorf("matches: %w", err)
		}
		cc.kind, cc.re = condMatches, re
	}
	if n != 1 {
		return cc, fmt.Errorf("set exactly one of exists, type, equals, matches (got %d)", n)
	}
	if cc.path == nil && cc.kind != condMatches {
		return cc, fmt.Errorf("a condition without field can only use matches (on the raw line)")
	}
	return cc, nil
}

// Names returns the rule names, then "default", indexed like Decision.Rule.
func (r *Router) Names() []string {
	names := make([]string, 0, len(r.rules)+1)
	for _, ru := range r.rules {
		names = append(names, ru.name)
	}
	return append(names, "default")
}

// Classifier routes lines using its own scratch space. It is not safe for
// concurrent use; make one per goroutine.
type Classifier struct {
	r      *Router
	fields []rawjson.Field
	sub    []rawjson.Field
	str    []byte
}

// NewClassifier returns a Classifier for r.
func (r *Router) NewClassifier() *Classifier {
	return &Classifier{r: r, fields: make([]rawjson.Field, 0, 32), sub: make([]rawjson.Field, 0, 32)}
}

// Route decides where line goes. line has no trailing newline. Route does not
// retain line.
func (c *Classifier) Route(line []byte) Decision {
	var err error
	c.fields, err = rawjson.Fields(c.fields[:0], line)
	isObject := err == nil
	for i := range c.r.rules {
		ru := &c.r.rules[i]
		if c.matchAll(ru.conds, line, isObject) {
			return Decision{To: ru.to, Rule: i, Format: ru.format}
		}
	}
	return Decision{To: c.r.def, Rule: len(c.r.rules), Format: mapping.Auto}
}

func (c *Classifier) matchAll(conds []cond, line []byte, isObject bool) bool {
	for i := range conds {
		if !c.match(&conds[i], line, isObject) {
			return false
		}
	}
	return true
}

func (c *Classifier) match(cd *cond, line []byte, isObject bool) bool {
	if cd.path == nil {
		return cd.re.Match(line)
	}
	if !isObject {
		return false
	}
	v, ok := rawjson.Lookup(c.fields, cd.path[0])
	for _, p := range cd.path[1:] {
		if !ok || rawjson.KindOf(v) != rawjson.Object {
			ok = false
			break
		}
		var err error
		if c.sub, err = rawjson.ObjectFields(c.sub[:0], v); err != nil {
			return false
		}
		v, ok = rawjson.Lookup(c.sub, p)
	}
	switch cd.kind {
	case condExists:
		return ok == cd.exists
	case condType:
		return ok && rawjson.KindOf(v) == cd.typ
	case condEqualsString:
		if !ok || rawjson.KindOf(v) != rawjson.String {
			return false
		}
		inner := v[1 : len(v)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return string(inner) == cd.str
		}
		c.str, _ = rawjson.Unquote(c.str[:0], inner)
		return string(c.str) == cd.str
	case condEqualsRaw:
		return ok && bytes.Equal(v, cd.raw)
	case condMatches:
		if !ok {
			return false
		}
		if rawjson.KindOf(v) == rawjson.String {
			c.str, _ = rawjson.Unquote(c.str[:0], v)
			return cd.re.Match(c.str)
		}
		return cd.re.Match(v)
	}
	return false
}

package gormaudit

import (
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// ModelOptions are the options of one model. Columns are named by database
// column ("password_digest") or by Go field name ("PasswordDigest").
type ModelOptions struct {
	// Model is a pointer to the model's zero value: &Order{}. Required.
	Model any
	// Type is written as target.type. Default: the Go type's name ("Order").
	Type string
	// Except lists columns left out of events entirely: a change to them
	// alone records nothing. Same as the struct tag `audit:"-"`.
	Except []string
	// Redacted lists columns whose change is recorded with audit.Redacted
	// in place of both values. Same as the struct tag `audit:"redacted"`.
	Redacted []string
	// FetchOld selects the old values of rows this model's updates and
	// deletes touch without a loaded model; see Config.FetchOld.
	FetchOld bool
}

// model is what the plugin knows about one model type: built once from its
// GORM schema, then read without locks.
type model struct {
	schema   *schema.Schema
	name     string // target.type
	enabled  bool   // recorded at all
	fetchOld bool

	all    []column           // every column, in schema order; changeSet names them by index
	cols   []column           // audited columns, in schema order (except left out)
	byName map[string]*column // DB name → column in all, except ones included (marked)
	pk     []*schema.Field
	pkKind reflect.Kind // kind of the one primary key field; Invalid for composite keys

	rels []*schema.Field // association fields, zeroed in snapshots
	deep []*schema.Field // slice and map columns, and pointer columns without a slot: copied one level deep in snapshots

	// snapType is the type of a snapshot's allocation: the model's struct
	// (field 0) followed by one field per slot, the value a pointer column
	// of the snapshot points to, so that a snapshot is one allocation.
	snapType reflect.Type
	slots    []slot

	lazy    bool // every audited column is lazy: creates and deletes use a changeSet
	redacts bool // some column is redacted
	softDel bool // deletes are soft (gorm.DeletedAt)
}

// slot is a pointer column whose value a snapshot holds in its own
// allocation.
type slot struct {
	off  uintptr      // of the pointer in the model
	at   uintptr      // of the value in snapType
	typ  reflect.Type // of the value
	copy func(dst, src unsafe.Pointer)
}

// column is one database column of a model.
type column struct {
	f          *schema.Field
	name       string
	except     bool
	redacted   bool
	autoUpdate bool // updated_at and the like: not recorded in updates

	idx   uint16       // index in model.all
	typ   reflect.Type // of the struct field
	off   uintptr      // of the field in the model, when fixed
	fixed bool         // off is valid: no embedded pointer on the way, every step exported
	// copy assigns the column at src to the column at dst (fixed columns).
	copy    func(dst, src unsafe.Pointer)
	box     func(unsafe.Pointer) any // ownValue of the column at an address (fixed columns)
	slotted bool                     // a pointer whose value a snapshot holds in a slot
	deep    bool                     // a slice, map or pointer a snapshot copies apart (deepen)
	// eq compares the column's values at two addresses without boxing
	// them, as sameRV would; nil: use sameRV.
	eq eqFunc
	// lazy: a snapshot's copy of the column refers to nothing the
	// application can write, so a changeSet may read it later, on the
	// Logger's goroutine.
	lazy bool
}

// tagExcept and tagRedacted are the values of the `audit` struct tag.
const (
	tagExcept   = "-"
	tagRedacted = "redacted"
)

// newModel builds the model of s with the plugin's configuration.
func (p *Plugin) newModel(s *schema.Schema) *model {
	opts, hasOpts := p.opts[s.ModelType]
	m := &model{
		schema:   s,
		name:     s.ModelType.Name(),
		enabled:  p.all || p.only[s.ModelType],
		fetchOld: p.cfg.FetchOld || opts.FetchOld,
		byName:   make(map[string]*column, len(s.DBNames)),
		pk:       s.PrimaryFields,
	}
	if m.name == "" {
		m.name = s.Name
	}
	if hasOpts && opts.Type != "" {
		m.name = opts.Type
	}
	if len(s.PrimaryFields) == 1 {
		m.pkKind = s.PrimaryFields[0].IndirectFieldType.Kind()
	}
	named := func(list []string, f *schema.Field) bool {
		for _, n := range list {
			if n == f.DBName || n == f.Name {
				return true
			}
		}
		return false
	}
	all := make([]column, 0, len(s.DBNames))
	slotFields := []reflect.StructField{{Name: "M", Type: s.ModelType}}
	for _, dbName := range s.DBNames {
		f := s.FieldsByDBName[dbName]
		if f == nil {
			continue
		}
		tag := tagValue(f)
		c := column{
			f:          f,
			name:       f.DBName,
			except:     tag == tagExcept || named(p.cfg.Except, f) || (hasOpts && named(opts.Except, f)),
			redacted:   tag == tagRedacted || named(p.cfg.Redacted, f) || (hasOpts && named(opts.Redacted, f)),
			autoUpdate: f.AutoUpdateTime > 0,
			idx:        uint16(len(all)),
			typ:        f.StructField.Type,
		}
		c.off, c.fixed = fieldOffset(s.ModelType, f.StructField.Index, c.typ)
		if c.fixed {
			c.copy = copyFunc(c.typ)
			c.eq = eqOf(c.typ)
			c.lazy = ownedAfterCopy(c.typ) && len(all) < eagerBit // a changeSet can name it
			c.box = boxFunc(c.typ)
		}
		if c.redacted && !c.except {
			m.redacts = true
		}
		switch t := c.typ; {
		case c.fixed && t.Kind() == reflect.Pointer && !needsDeepen(t.Elem()):
			slotFields = append(slotFields, reflect.StructField{Name: "P" + strconv.Itoa(len(m.slots)), Type: t.Elem()})
			m.slots = append(m.slots, slot{off: c.off, typ: t.Elem(), copy: copyFunc(t.Elem())})
			c.slotted = true
		case f.IndirectFieldType.Kind() == reflect.Slice, f.IndirectFieldType.Kind() == reflect.Map, f.FieldType.Kind() == reflect.Pointer:
			m.deep = append(m.deep, f)
			c.deep = true
		}
		all = append(all, c)
	}
	m.all = all
	m.lazy = true
	for i := range all {
		m.byName[all[i].name] = &all[i]
		if !all[i].except {
			m.cols = append(m.cols, all[i])
			if !all[i].lazy && !all[i].redacted {
				m.lazy = false
			}
		}
	}
	m.snapType = s.ModelType
	if len(m.slots) > 0 {
		m.snapType = reflect.StructOf(slotFields)
		for i := range m.slots {
			m.slots[i].at = m.snapType.Field(i + 1).Offset
		}
	}
	for _, rel := range s.Relationships.Relations {
		if rel.Field != nil {
			m.rels = append(m.rels, rel.Field)
		}
	}
	for _, c := range s.DeleteClauses {
		if _, ok := c.(gorm.SoftDeleteDeleteClause); ok {
			m.softDel = true
		}
	}
	return m
}

// tagValue returns the `audit` tag of f: "-", "redacted" or "".
func tagValue(f *schema.Field) string {
	v, ok := f.Tag.Lookup("audit")
	if !ok {
		return ""
	}
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, tagRedacted) {
		return tagRedacted
	}
	if v == tagExcept {
		return tagExcept
	}
	return ""
}

// modelOf returns the model of the statement's schema, or nil when the
// statement has none or its model is not recorded.
func (p *Plugin) modelOf(stmt *gorm.Statement) *model {
	s := stmt.Schema
	if s == nil {
		return nil
	}
	if v, ok := p.models.Load(s); ok {
		m := v.(*model)
		if !m.enabled {
			return nil
		}
		return m
	}
	m := p.newModel(s)
	v, _ := p.models.LoadOrStore(s, m)
	m = v.(*model)
	if !m.enabled {
		return nil
	}
	return m
}

// target returns the target of a row of m with the given id in the
// statement's table. The schema is the one the table is qualified with:
// in the model's TableName ("sales.orders") or in db.Table("sales.orders");
// else Config.Schema.
func (p *Plugin) target(m *model, stmt *gorm.Statement, id string) audit.Target {
	table := stmt.Table
	if strings.IndexByte(table, '.') < 0 && stmt.TableExpr != nil {
		if q := unquote(stmt.TableExpr.SQL); strings.IndexByte(q, '.') > 0 && !strings.ContainsAny(q, " (") {
			table = q
		}
	}
	t := audit.Target{Type: m.name, ID: id, Table: table, Schema: p.cfg.Schema}
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		t.Schema, t.Table = table[:i], table[i+1:]
	}
	return t
}

// unquote removes the identifier quotes of a table name: "sales"."orders"
// and `sales`.`orders` give sales.orders.
func unquote(s string) string {
	if !strings.ContainsAny(s, "\"`[]") {
		return s
	}
	return strings.NewReplacer(`"`, "", "`", "", "[", "", "]", "").Replace(s)
}

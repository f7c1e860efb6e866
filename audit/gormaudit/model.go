package gormaudit

import (
	"reflect"
	"strings"

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

	cols   []column           // audited columns, in schema order (except left out)
	byName map[string]*column // DB name → column, except ones included (marked)
	pk     []*schema.Field
	pkKind reflect.Kind // kind of the one primary key field; Invalid for composite keys

	rels []*schema.Field // association fields, zeroed in snapshots
	deep []*schema.Field // slice, map and pointer columns, copied one level deep in snapshots

	redacts bool // some column is redacted
	softDel bool // deletes are soft (gorm.DeletedAt)
}

// column is one database column of a model.
type column struct {
	f          *schema.Field
	name       string
	except     bool
	redacted   bool
	autoUpdate bool // updated_at and the like: not recorded in updates
	plain      bool // compared through reflect without boxing (no serializer)
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
			plain:      f.Serializer == nil,
		}
		if c.redacted && !c.except {
			m.redacts = true
		}
		all = append(all, c)
		switch f.IndirectFieldType.Kind() {
		case reflect.Slice, reflect.Map:
			m.deep = append(m.deep, f)
		default:
			if f.FieldType.Kind() == reflect.Pointer {
				m.deep = append(m.deep, f)
			}
		}
	}
	for i := range all {
		m.byName[all[i].name] = &all[i]
		if !all[i].except {
			m.cols = append(m.cols, all[i])
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

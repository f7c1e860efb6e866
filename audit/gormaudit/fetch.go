package gormaudit

import (
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// fetched are the rows FetchOld selected before a statement, by id.
type fetched struct {
	rows map[string]reflect.Value
	ids  []string // in the order selected
	err  string   // why the SELECT failed; then rows is empty
}

// fetch selects the rows of m matching where, in the statement's
// transaction, FOR UPDATE where the database has it, and keeps them in a
// statement setting for the after callback. A statement without WHERE
// (a global update) fetches nothing: it is recorded as a batch.
func (p *Plugin) fetch(db *gorm.DB, m *model, where []clause.Expression) {
	stmt := db.Statement
	if len(where) == 0 || len(m.pk) == 0 {
		return
	}
	f := &fetched{}
	dest := reflect.New(reflect.SliceOf(m.schema.ModelType))
	q := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).
		Set(internalSetting, true).
		Table(stmt.Table).
		Clauses(clause.Where{Exprs: where})
	q.Statement.TableExpr = stmt.TableExpr // a schema-qualified or aliased table
	if stmt.Unscoped {
		q = q.Unscoped()
	}
	switch db.Dialector.Name() {
	case "postgres", "mysql":
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	if err := q.Find(dest.Interface()).Error; err != nil {
		f.err = err.Error()
		stmt.Settings.Store(fetchKey{}, f)
		return
	}
	rows := dest.Elem()
	f.rows = make(map[string]reflect.Value, rows.Len())
	f.ids = make([]string, 0, rows.Len())
	for i := range rows.Len() {
		e := rows.Index(i)
		id, ok := m.idOf(stmt.Context, e)
		if !ok {
			continue
		}
		if _, dup := f.rows[id]; !dup {
			f.ids = append(f.ids, id)
		}
		f.rows[id] = e
	}
	stmt.Settings.Store(fetchKey{}, f)
}

// whereExprs returns the conditions of the statement's WHERE clause.
func whereExprs(stmt *gorm.Statement) []clause.Expression {
	c, ok := stmt.Clauses["WHERE"]
	if !ok {
		return nil
	}
	w, _ := c.Expression.(clause.Where)
	return w.Exprs
}

// where describes the WHERE clause of a batch statement as SQL. Its
// arguments are written in (as GORM's logger does) unless the model has
// redacted columns, whose values a condition could give away: then the
// placeholders stay.
func (p *Plugin) where(db *gorm.DB, m *model) string {
	exprs := whereExprs(db.Statement)
	if len(exprs) == 0 {
		return ""
	}
	s := &gorm.Statement{
		DB:      db,
		Table:   db.Statement.Table,
		Schema:  db.Statement.Schema,
		Context: db.Statement.Context,
		Clauses: map[string]clause.Clause{},
	}
	clause.Where{Exprs: exprs}.Build(s)
	sql := s.SQL.String()
	if m.redacts {
		return sql
	}
	return db.Dialector.Explain(sql, s.Vars...)
}

// pkValues returns the ids of the rows a WHERE clause names by primary
// key (db.Delete(&Order{}, 17), Where("id IN ?") not included: only
// GORM's own conditions), or nil. Other conditions may exclude some of
// them, so callers check the rows affected.
func pkValues(stmt *gorm.Statement, m *model) []string {
	if len(m.pk) != 1 {
		return nil
	}
	pk := m.pk[0].DBName
	isPK := func(col any) bool {
		switch c := col.(type) {
		case clause.Column:
			return c.Name == clause.PrimaryKey || c.Name == pk
		case string:
			return c == pk || strings.HasSuffix(c, "."+pk)
		}
		return false
	}
	var vals []any
	found := 0
	for _, e := range whereExprs(stmt) {
		switch x := e.(type) {
		case clause.IN:
			if isPK(x.Column) {
				vals, found = x.Values, found+1
			}
		case clause.Eq:
			if isPK(x.Column) {
				vals, found = []any{x.Value}, found+1
			}
		}
	}
	if found != 1 || len(vals) == 0 {
		return nil
	}
	ids := make([]string, 0, len(vals))
	for _, v := range vals {
		if v == nil || isExpr(v) {
			return nil
		}
		ids = append(ids, idFromValues([]any{v}))
	}
	return ids
}

// schemaIdentity returns the primary key values of the statement's models.
func schemaIdentity(stmt *gorm.Statement) [][]any {
	_, vals := schema.GetIdentityFieldValuesMap(stmt.Context, stmt.ReflectValue, stmt.Schema.PrimaryFields)
	return vals
}

func schemaToQueryValues(stmt *gorm.Statement, vals [][]any) (any, []any) {
	return schema.ToQueryValues(stmt.Table, stmt.Schema.PrimaryFieldDBNames, vals)
}

func callbacksConvertToAssignments(stmt *gorm.Statement) clause.Set {
	return callbacks.ConvertToAssignments(stmt)
}

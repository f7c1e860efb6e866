package gormaudit

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"reflect"
	"slices"
	"time"
	"unsafe"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// internalSetting marks the plugin's own SELECTs (FetchOld), which take
// no snapshot.
const internalSetting = "gormaudit:internal"

// fetchKey is the statement setting holding the rows FetchOld selected.
type fetchKey struct{}

// Meta keys and values the plugin writes.
const (
	metaOldValues    = "old_values"    // "unknown": changes hold new values only
	metaWhere        = "where"         // the WHERE clause of a batch statement
	metaRowsAffected = "rows_affected" // rows a batch statement touched
	metaExpressions  = "expressions"   // {column: SQL} set by an expression
	metaSoftDelete   = "soft_delete"   // true: a soft delete (deleted_at set)
	metaFetchError   = "fetch_error"   // why FetchOld found no old values
	unknown          = "unknown"
)

// afterQuery snapshots the models a query loaded.
func (p *Plugin) afterQuery(db *gorm.DB) {
	if db.Error != nil || db.DryRun {
		return
	}
	stmt := db.Statement
	m := p.modelOf(stmt)
	if m == nil {
		return
	}
	if _, internal := stmt.Settings.Load(internalSetting); internal {
		return
	}
	if len(stmt.Omits) > 0 || len(stmt.Selects) > 0 && (len(stmt.Selects) != 1 || stmt.Selects[0] != "*") {
		// Some columns were not loaded: their zero values are not the
		// row's. Such a model has no snapshot (its updates are recorded
		// with old values unknown, or FetchOld).
		return
	}
	if _, built := stmt.Clauses["FROM"]; !built {
		return // db.Raw(…).Find: which columns it loaded is unknown
	}
	ctx := stmt.Context
	o := ownerOf(stmt.ReflectValue)
	m.rows(stmt.ReflectValue, func(e reflect.Value) {
		if ptr := addrOf(e); ptr != nil {
			p.snaps.put(ptr, &o, m.copyOf(ctx, e))
		}
	})
}

// snapshot returns the snapshot of the model of m at ptr, or an invalid
// Value.
// rowOld returns a row's id, its address and its old values: the snapshot
// taken when it was loaded, else the row FetchOld selected (f may be nil),
// else the invalid Value. ok is false when the row has no id.
func (p *Plugin) rowOld(ctx context.Context, m *model, e reflect.Value, f *fetched) (id string, ptr unsafe.Pointer, old reflect.Value, ok bool) {
	if id, ok = m.idOf(ctx, e); !ok {
		return "", nil, reflect.Value{}, false
	}
	if ptr = addrOf(e); ptr != nil {
		old = p.snapshot(m, ptr)
	}
	if !old.IsValid() && f != nil {
		old = f.rows[id]
	}
	return id, ptr, old, true
}

func (p *Plugin) snapshot(m *model, ptr unsafe.Pointer) reflect.Value {
	s := p.snaps.get(ptr)
	if s.IsValid() && s.Type() != m.schema.ModelType {
		return reflect.Value{} // another struct at that address (an embedded model)
	}
	return s
}

// rows calls fn with each value of m in rv: rv itself, or the elements of
// a slice or array of m or *m.
func (m *model) rows(rv reflect.Value, fn func(e reflect.Value)) {
	t := m.schema.ModelType
	switch rv.Kind() {
	case reflect.Struct:
		if rv.Type() == t {
			fn(rv)
		}
	case reflect.Slice, reflect.Array:
		for i := range rv.Len() {
			e := rv.Index(i)
			for e.Kind() == reflect.Pointer || e.Kind() == reflect.Interface {
				if e.IsNil() {
					break
				}
				e = e.Elem()
			}
			if e.Kind() == reflect.Struct && e.Type() == t {
				fn(e)
			}
		}
	}
}

// afterCreate records the created rows and snapshots them.
func (p *Plugin) afterCreate(db *gorm.DB) {
	if db.Error != nil || db.DryRun || db.RowsAffected == 0 {
		return
	}
	stmt := db.Statement
	m := p.modelOf(stmt)
	if m == nil {
		return
	}
	ctx := stmt.Context
	// room for one row's event and undo on the stack: emit copies them
	var (
		evBuf   [1]audit.Event
		undoBuf [1]undo
	)
	evs, undos := evBuf[:0], undoBuf[:0]
	o := ownerOf(stmt.ReflectValue)
	m.rows(stmt.ReflectValue, func(e reflect.Value) {
		id, ok := m.idOf(ctx, e)
		if !ok && len(m.pk) > 0 {
			return // not inserted (ON CONFLICT DO NOTHING)
		}
		ev := audit.Event{Action: audit.ActionCreate, Target: p.target(m, stmt, id)}
		if ptr := addrOf(e); ptr != nil {
			// the values are read from the snapshot when the event is encoded
			snap := m.copyOf(ctx, e)
			if cs := m.rowChangeSet(opCreate, snap); cs != nil {
				ev.ChangeSet = cs
			} else {
				ev.Changes = m.values(ctx, e)
			}
			undos = append(undos, p.snaps.put(ptr, &o, snap))
		} else {
			ev.Changes = m.values(ctx, e)
		}
		evs = append(evs, ev)
	})
	if len(evs) == 0 {
		evs = p.createdMaps(db, m) // none unless created from maps
	}
	if len(evs) > 0 || len(undos) > 0 {
		p.emit(db, evs, undos)
	}
}

// createdMaps records rows created from map[string]any values.
func (p *Plugin) createdMaps(db *gorm.DB, m *model) []audit.Event {
	var maps []map[string]any
	switch d := db.Statement.Dest.(type) {
	case map[string]any:
		maps = append(maps, d)
	case *map[string]any:
		maps = append(maps, *d)
	case []map[string]any:
		maps = d
	case *[]map[string]any:
		maps = *d
	}
	evs := make([]audit.Event, 0, len(maps))
	for _, row := range maps {
		keys := make([]string, 0, len(row))
		for k := range row {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var changes []audit.Change
		pkVals := make([]any, 0, len(m.pk))
		for _, f := range m.pk {
			if v, ok := row[f.DBName]; ok {
				pkVals = append(pkVals, v)
			} else if v, ok := row[f.Name]; ok {
				pkVals = append(pkVals, v)
			}
		}
		for _, k := range keys {
			name, c := k, (*column)(nil)
			if f := m.schema.LookUpField(k); f != nil && f.DBName != "" {
				name, c = f.DBName, m.byName[f.DBName]
			}
			switch {
			case c != nil && c.except:
			case c != nil && c.redacted:
				changes = append(changes, audit.Value(name, audit.Redacted))
			default:
				changes = append(changes, audit.Value(name, own(row[k])))
			}
		}
		id := ""
		if len(pkVals) == len(m.pk) && len(m.pk) > 0 {
			id = idFromValues(pkVals)
		}
		evs = append(evs, audit.Event{Action: audit.ActionCreate, Target: p.target(m, db.Statement, id), Changes: changes})
	}
	return evs
}

// values returns the recorded columns of e as the changes of a created or
// deleted row.
func (m *model) values(ctx context.Context, e reflect.Value) []audit.Change {
	changes := make([]audit.Change, 0, len(m.cols))
	for i := range m.cols {
		c := &m.cols[i]
		if c.redacted {
			changes = append(changes, audit.Value(c.name, audit.Redacted))
			continue
		}
		changes = append(changes, audit.Value(c.name, own(c.f.ReflectValueOf(ctx, e).Interface())))
	}
	return changes
}

// beforeUpdate builds the statement's SET clause itself, so that it is
// still there after the update (GORM drops the one it builds), and
// selects the old rows when FetchOld asks for it.
func (p *Plugin) beforeUpdate(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || db.DryRun || stmt.SQL.Len() != 0 {
		return
	}
	m := p.modelOf(stmt)
	if m == nil {
		return
	}
	if _, ok := stmt.Clauses["SET"]; !ok {
		set := callbacksConvertToAssignments(stmt)
		if len(set) == 0 || db.Error != nil {
			return
		}
		stmt.AddClause(set)
	}
	if m.fetchOld && p.needsFetch(stmt, m) {
		p.fetch(db, m, whereExprs(stmt))
	}
}

// needsFetch reports whether a statement of m touches rows whose old
// values no snapshot holds.
func (p *Plugin) needsFetch(stmt *gorm.Statement, m *model) bool {
	ctx, found, need := stmt.Context, false, false
	m.rows(stmt.ReflectValue, func(e reflect.Value) {
		if _, ok := m.idOf(ctx, e); !ok {
			return
		}
		found = true
		if !p.snapshot(m, addrOf(e)).IsValid() {
			need = true
		}
	})
	return need || !found
}

// afterUpdate records the update.
func (p *Plugin) afterUpdate(db *gorm.DB) {
	stmt := db.Statement
	m := p.modelOf(stmt)
	if m == nil {
		return // beforeUpdate left the statement to GORM
	}
	var set clause.Set
	if c, ok := stmt.Clauses["SET"]; ok {
		set, _ = c.Expression.(clause.Set)
		delete(stmt.Clauses, "SET") // as GORM does with the SET it builds
	}
	var f *fetched
	if m.fetchOld {
		if v, ok := stmt.Settings.LoadAndDelete(fetchKey{}); ok {
			f = v.(*fetched)
		}
	}
	if db.Error != nil || db.DryRun || db.RowsAffected == 0 || len(set) == 0 {
		return
	}
	ctx := stmt.Context
	var (
		evBuf   [1]audit.Event // room for one row's on the stack: emit copies them
		undoBuf [1]undo
		rows    bool
	)
	evs, undos := evBuf[:0], undoBuf[:0]
	o := ownerOf(stmt.ReflectValue)
	m.rows(stmt.ReflectValue, func(e reflect.Value) {
		id, ptr, old, ok := p.rowOld(ctx, m, e, f)
		if !ok {
			return
		}
		rows = true
		if ptr != nil && old.IsValid() && old.CanAddr() {
			// the common case: diff in place, new snapshot, values boxed
			// when the event is encoded
			if cs, snap, ok := m.update(ctx, set, e, old); ok {
				if cs != nil {
					evs = append(evs, audit.Event{Action: audit.ActionUpdate, Target: p.target(m, stmt, id), ChangeSet: cs})
				}
				undos = append(undos, p.snaps.put(ptr, &o, snap))
				return
			}
		}
		changes, exprs := m.updateChanges(ctx, set, e, old)
		if len(changes) > 0 || len(exprs) > 0 {
			ev := audit.Event{Action: audit.ActionUpdate, Target: p.target(m, stmt, id), Changes: changes}
			ev.Meta = f.meta(old.IsValid(), exprs)
			evs = append(evs, ev)
		}
		if ptr == nil {
			return
		}
		switch {
		case old.IsValid() && len(exprs) == 0:
			undos = append(undos, p.snaps.put(ptr, &o, m.applied(ctx, old, set, e)))
		case len(exprs) > 0:
			undos = append(undos, p.snaps.put(ptr, nil, reflect.Value{})) // its new values are the database's
		}
	})
	if !rows {
		evs = p.batchUpdate(db, m, set, f)
	}
	if len(evs) > 0 || len(undos) > 0 {
		p.emit(db, evs, undos)
	}
}

// batchUpdate records an update of rows GORM has no model of: one event
// per row FetchOld selected, or else one event for the statement.
func (p *Plugin) batchUpdate(db *gorm.DB, m *model, set clause.Set, f *fetched) []audit.Event {
	stmt := db.Statement
	ctx := stmt.Context
	// The assigned values are in stmt.ReflectValue when it is a model
	// (db.Model(&Order{})): GORM assigns them there. Otherwise use the SET.
	e := stmt.ReflectValue
	if e.Kind() != reflect.Struct || e.Type() != m.schema.ModelType || !e.CanAddr() {
		e = reflect.Value{}
	}
	if f != nil && f.err == "" {
		evs := make([]audit.Event, 0, len(f.ids))
		for _, id := range f.ids {
			changes, exprs := m.updateChanges(ctx, set, e, f.rows[id])
			if len(changes) == 0 && len(exprs) == 0 {
				continue
			}
			evs = append(evs, audit.Event{
				Action: audit.ActionUpdate, Target: p.target(m, stmt, id), Changes: changes,
				Meta: f.meta(true, exprs),
			})
		}
		return evs
	}
	changes, exprs := m.updateChanges(ctx, set, e, reflect.Value{})
	if len(changes) == 0 && len(exprs) == 0 {
		return nil
	}
	if ids := pkValues(stmt, m); ids != nil && int64(len(ids)) == db.RowsAffected {
		// every row the WHERE names by primary key was updated
		evs := make([]audit.Event, 0, len(ids))
		for _, id := range ids {
			evs = append(evs, audit.Event{
				Action: audit.ActionUpdate, Target: p.target(m, stmt, id), Changes: changes,
				Meta: f.meta(false, exprs),
			})
		}
		return evs
	}
	meta := f.meta(false, exprs)
	meta[metaWhere] = p.where(db, m)
	meta[metaRowsAffected] = db.RowsAffected
	return []audit.Event{{Action: audit.ActionUpdate, Target: p.target(m, stmt, ""), Changes: changes, Meta: meta}}
}

// updateChanges returns the changes of an update assigning set to a row
// whose old values are old (invalid: unknown); e is the model the new
// values were assigned to (invalid: take them from set). Columns set by
// a SQL expression are returned apart, with their SQL.
func (m *model) updateChanges(ctx context.Context, set clause.Set, e, old reflect.Value) ([]audit.Change, map[string]any) {
	var (
		changes []audit.Change
		exprs   map[string]any
	)
	for i := range set {
		a := &set[i]
		c := m.byName[a.Column.Name]
		if c != nil && (c.except || c.autoUpdate) {
			continue
		}
		name := a.Column.Name
		if isExpr(a.Value) {
			if exprs == nil {
				exprs = make(map[string]any)
			}
			exprs[name] = exprText(a.Value)
			continue
		}
		var nv reflect.Value
		if c != nil && e.IsValid() {
			nv = c.f.ReflectValueOf(ctx, e)
		} else {
			nv = reflect.ValueOf(a.Value)
		}
		if c == nil || !old.IsValid() {
			if c != nil && c.redacted {
				changes = append(changes, audit.Value(name, audit.Redacted))
			} else {
				changes = append(changes, audit.Value(name, ownValue(nv)))
			}
			continue
		}
		ov := c.f.ReflectValueOf(ctx, old)
		if sameRV(ov, nv) {
			continue
		}
		if changes == nil {
			changes = make([]audit.Change, 0, len(set))
		}
		if c.redacted {
			changes = append(changes, audit.Diff(name, audit.Redacted, audit.Redacted))
		} else {
			changes = append(changes, audit.Diff(name, ownValue(ov), ownValue(nv)))
		}
	}
	return changes, exprs
}

// beforeDelete selects the rows a delete touches when FetchOld asks for
// it and no snapshot has them.
func (p *Plugin) beforeDelete(db *gorm.DB) {
	stmt := db.Statement
	if db.Error != nil || db.DryRun || stmt.SQL.Len() != 0 {
		return
	}
	m := p.modelOf(stmt)
	if m == nil || !m.fetchOld || !p.needsFetch(stmt, m) {
		return
	}
	where := whereExprs(stmt)
	if stmt.Schema != nil && len(stmt.Schema.PrimaryFields) > 0 {
		// the primary keys of the models, as GORM's delete adds them
		vals := schemaIdentity(stmt)
		if len(vals) > 0 {
			col, values := schemaToQueryValues(stmt, vals)
			where = append(slices.Clip(where), clause.IN{Column: col, Values: values})
		}
	}
	p.fetch(db, m, where)
}

// afterDelete records the deleted rows.
func (p *Plugin) afterDelete(db *gorm.DB) {
	stmt := db.Statement
	m := p.modelOf(stmt)
	if m == nil {
		return
	}
	var f *fetched
	if m.fetchOld {
		if v, ok := stmt.Settings.LoadAndDelete(fetchKey{}); ok {
			f = v.(*fetched)
		}
	}
	if db.Error != nil || db.DryRun || db.RowsAffected == 0 {
		return
	}
	ctx := stmt.Context
	soft := m.softDel && !stmt.Unscoped
	var (
		evBuf   [1]audit.Event // room for one row's on the stack: emit copies them
		undoBuf [1]undo
		rows    bool
	)
	evs, undos := evBuf[:0], undoBuf[:0]
	m.rows(stmt.ReflectValue, func(e reflect.Value) {
		id, ptr, old, ok := p.rowOld(ctx, m, e, f)
		if !ok {
			return
		}
		rows = true
		ev := audit.Event{Action: audit.ActionDelete, Target: p.target(m, stmt, id)}
		if cs := m.rowChangeSet(opDelete, old); cs != nil {
			ev.ChangeSet = cs // old is a snapshot or a fetched row: nothing writes it
		} else if old.IsValid() {
			ev.Changes = m.values(ctx, old)
		} else {
			ev.Changes = m.pkValues(ctx, e)
		}
		ev.Meta = f.meta(old.IsValid(), nil)
		if soft {
			if ev.Meta == nil {
				ev.Meta = make(map[string]any, 1)
			}
			ev.Meta[metaSoftDelete] = true
		}
		evs = append(evs, ev)
		if ptr != nil {
			undos = append(undos, p.snaps.put(ptr, nil, reflect.Value{}))
		}
	})
	if !rows {
		evs = p.batchDelete(db, m, f, soft)
	}
	if len(evs) > 0 || len(undos) > 0 {
		p.emit(db, evs, undos)
	}
}

// batchDelete records a delete of rows GORM has no model of.
func (p *Plugin) batchDelete(db *gorm.DB, m *model, f *fetched, soft bool) []audit.Event {
	stmt := db.Statement
	ctx := stmt.Context
	var evs []audit.Event
	switch {
	case f != nil && f.err == "":
		for _, id := range f.ids {
			ev := audit.Event{Action: audit.ActionDelete, Target: p.target(m, stmt, id), Meta: f.meta(true, nil)}
			if cs := m.rowChangeSet(opDelete, f.rows[id]); cs != nil {
				ev.ChangeSet = cs
			} else {
				ev.Changes = m.values(ctx, f.rows[id])
			}
			evs = append(evs, ev)
		}
	default:
		if ids := pkValues(stmt, m); ids != nil && int64(len(ids)) == db.RowsAffected {
			for _, id := range ids {
				evs = append(evs, audit.Event{
					Action: audit.ActionDelete, Target: p.target(m, stmt, id),
					Meta: f.meta(false, nil),
				})
			}
			break
		}
		meta := f.meta(false, nil)
		meta[metaWhere] = p.where(db, m)
		meta[metaRowsAffected] = db.RowsAffected
		evs = append(evs, audit.Event{Action: audit.ActionDelete, Target: p.target(m, stmt, ""), Meta: meta})
	}
	if soft {
		for i := range evs {
			if evs[i].Meta == nil {
				evs[i].Meta = map[string]any{}
			}
			evs[i].Meta[metaSoftDelete] = true
		}
	}
	return evs
}

// pkValues returns the primary key columns of e as changes: all that is
// known of a deleted row without its snapshot.
func (m *model) pkValues(ctx context.Context, e reflect.Value) []audit.Change {
	changes := make([]audit.Change, 0, len(m.pk))
	for _, f := range m.pk {
		changes = append(changes, audit.Value(f.DBName, own(f.ReflectValueOf(ctx, e).Interface())))
	}
	return changes
}

// meta returns the meta of an event: whether its old values are known,
// the columns set by expressions, and why FetchOld failed. f may be nil.
// A new map is returned whenever the caller may add to it.
func (f *fetched) meta(oldKnown bool, exprs map[string]any) map[string]any {
	var m map[string]any
	if !oldKnown {
		m = map[string]any{metaOldValues: unknown}
		if f != nil && f.err != "" {
			m[metaFetchError] = f.err
		}
	}
	if len(exprs) > 0 {
		if m == nil {
			m = make(map[string]any, 1)
		}
		m[metaExpressions] = exprs
	}
	return m
}

// own returns v as the event keeps it: a value the application can no
// longer change. Pointers are followed, byte slices copied, and slices,
// maps and structs other than times and driver.Valuers are turned into
// their JSON now.
func own(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Time:
		return v
	case []byte:
		return bytes.Clone(x)
	case json.RawMessage:
		return json.RawMessage(bytes.Clone(x))
	case driver.Valuer:
		if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil
		}
		dv, err := x.Value()
		if err != nil {
			return "!value error: " + err.Error()
		}
		if _, again := dv.(driver.Valuer); again {
			return dv
		}
		return own(dv)
	}
	return ownValue(reflect.ValueOf(v))
}

func ownValue(rv reflect.Value) any {
	if !rv.IsValid() {
		return nil
	}
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		if rv.Kind() == reflect.Pointer && rv.Type().Implements(valuerType) {
			break
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if rv.Type().Implements(valuerType) {
			break
		}
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Type().Implements(valuerType) {
			break
		}
		return rv.Uint()
	case reflect.Float32, reflect.Float64:
		if rv.Type().Implements(valuerType) {
			break
		}
		return rv.Float()
	case reflect.String:
		if rv.Type().Implements(valuerType) {
			break
		}
		return rv.String()
	}
	v := rv.Interface()
	switch x := v.(type) {
	case time.Time, []byte, json.RawMessage, driver.Valuer:
		return own(x)
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array, reflect.Struct:
		b, err := json.Marshal(v)
		if err != nil {
			return "!json error: " + err.Error()
		}
		return json.RawMessage(b)
	}
	return v
}

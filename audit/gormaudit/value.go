package gormaudit

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

var (
	timeType   = reflect.TypeFor[time.Time]()
	valuerType = reflect.TypeFor[driver.Valuer]()
)

// idOf returns the primary key of the struct v as text, and false when a
// part of it is zero (a row not yet inserted, or a model without one).
//
// One key is written as it is: 17, 9007199254740993 (exactly), "ord_7".
// The parts of a composite key are joined with ',' in the order of the
// model's primary key fields, and a ',' or '\' inside a part is escaped
// with '\': "17,3", `a\,b,3`.
func (m *model) idOf(ctx context.Context, v reflect.Value) (string, bool) {
	if len(m.pk) == 0 {
		return "", false
	}
	if len(m.pk) == 1 {
		rv := reflect.Indirect(m.pk[0].ReflectValueOf(ctx, v))
		if !rv.IsValid() || rv.IsZero() {
			return "", false
		}
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return strconv.FormatInt(rv.Int(), 10), true
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return strconv.FormatUint(rv.Uint(), 10), true
		case reflect.String:
			return rv.String(), true
		}
		return string(appendKey(nil, rv.Interface())), true
	}
	var buf []byte
	for i, f := range m.pk {
		rv := reflect.Indirect(f.ReflectValueOf(ctx, v))
		if !rv.IsValid() || rv.IsZero() {
			return "", false
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendEscaped(buf, appendKey(nil, rv.Interface()))
	}
	return string(buf), true
}

// idFromValues returns the key made of one value per primary key field.
func idFromValues(vals []any) string {
	if len(vals) == 1 {
		return string(appendKey(nil, vals[0]))
	}
	var buf []byte
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendEscaped(buf, appendKey(nil, v))
	}
	return string(buf)
}

func appendEscaped(dst, part []byte) []byte {
	for _, b := range part {
		if b == ',' || b == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, b)
	}
	return dst
}

// appendKey appends one part of a primary key as text.
func appendKey(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(dst, x...)
	case []byte:
		return append(dst, x...)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case int16:
		return strconv.AppendInt(dst, int64(x), 10)
	case int8:
		return strconv.AppendInt(dst, int64(x), 10)
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10)
	case time.Time:
		return x.AppendFormat(dst, time.RFC3339Nano)
	case fmt.Stringer: // UUIDs
		return append(dst, x.String()...)
	case driver.Valuer:
		dv, err := x.Value()
		if err == nil {
			if _, again := dv.(driver.Valuer); !again {
				return appendKey(dst, dv)
			}
		}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(dst, rv.Uint(), 10)
	case reflect.String:
		return append(dst, rv.String()...)
	}
	return fmt.Append(dst, v)
}

// isExpr reports whether an assigned value is SQL computed by the
// database (gorm.Expr, a subquery…), whose result GORM does not know.
func isExpr(v any) bool {
	switch x := v.(type) {
	case clause.Expression, *gorm.DB, gorm.Valuer, clause.Column:
		return true
	case []any:
		if len(x) == 1 {
			_, ok := x[0].(*gorm.DB)
			return ok
		}
	}
	return false
}

// exprText describes an assigned SQL expression without its arguments.
func exprText(v any) string {
	switch x := v.(type) {
	case clause.Expr:
		return x.SQL
	case clause.NamedExpr:
		return x.SQL
	case clause.Column:
		return x.Name
	case *gorm.DB, []any:
		return "(subquery)"
	}
	return "(expression)"
}

// sameValue reports whether the new value assigned to a column equals the
// column's old value, with the loose typing of SQL: an int assigned to an
// int64 column, a string to a named string type, a time in another zone.
func sameValue(old reflect.Value, nv any) bool {
	return sameRV(old, reflect.ValueOf(nv))
}

// sameRV is sameValue with the new value as a reflect.Value, so that it
// needs no boxing.
func sameRV(old, n reflect.Value) bool {
	old, oldNil := indirect(old)
	n, newNil := indirect(n)
	if oldNil || newNil {
		if oldNil && newNil {
			return true
		}
		// a nil pointer and a Valuer whose value is NULL (sql.NullString{}) are the same
		return isNullValuer(old, oldNil) && isNullValuer(n, newNil)
	}
	if old.Type() == n.Type() {
		return sameTyped(old, n)
	}
	if sameLoose(old, n) {
		return true
	}
	// A Valuer on either side (sql.NullInt64 and an int64, say): compare
	// the driver values.
	if old.Type().Implements(valuerType) || n.Type().Implements(valuerType) {
		ov, ok1 := driverValue(old)
		nw, ok2 := driverValue(n)
		if !ok1 || !ok2 {
			return false
		}
		if ov == nil || nw == nil {
			return ov == nil && nw == nil
		}
		a, b := reflect.ValueOf(ov), reflect.ValueOf(nw)
		if a.Type() == b.Type() {
			return sameTyped(a, b)
		}
		return sameLoose(a, b)
	}
	return false
}

// indirect follows pointers; isNil reports a nil pointer or interface or
// an invalid value on the way.
func indirect(v reflect.Value) (reflect.Value, bool) {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return v, true
		}
		v = v.Elem()
	}
	return v, !v.IsValid()
}

func isNullValuer(v reflect.Value, isNil bool) bool {
	if isNil {
		return true
	}
	dv, ok := driverValue(v)
	return ok && dv == nil
}

func driverValue(v reflect.Value) (any, bool) {
	if v.Type().Implements(valuerType) {
		dv, err := v.Interface().(driver.Valuer).Value()
		return dv, err == nil
	}
	if v.CanAddr() && v.Addr().Type().Implements(valuerType) {
		dv, err := v.Addr().Interface().(driver.Valuer).Value()
		return dv, err == nil
	}
	return v.Interface(), true
}

// sameTyped compares two values of the same type.
func sameTyped(a, b reflect.Value) bool {
	t := a.Type()
	switch {
	case t == timeType:
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return bytes.Equal(a.Bytes(), b.Bytes())
	case t.Kind() == reflect.Struct && t.Implements(valuerType):
		// sql.NullTime and friends: compare what the database gets, so that
		// the same instant in two zones is no change
		av, err1 := a.Interface().(driver.Valuer).Value()
		bv, err2 := b.Interface().(driver.Valuer).Value()
		if err1 != nil || err2 != nil {
			return false
		}
		if av == nil || bv == nil {
			return av == nil && bv == nil
		}
		x, y := reflect.ValueOf(av), reflect.ValueOf(bv)
		if x.Type() != y.Type() || x.Type() == t {
			return reflect.DeepEqual(av, bv)
		}
		return sameTyped(x, y)
	}
	switch t.Kind() {
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	case reflect.String:
		return a.String() == b.String()
	case reflect.Slice, reflect.Map:
		if t.Implements(reflect.TypeFor[json.Marshaler]()) || t.Implements(valuerType) {
			av, ok1 := driverValue(a)
			bv, ok2 := driverValue(b)
			if ok1 && ok2 {
				if x, ok := av.([]byte); ok {
					y, ok := bv.([]byte)
					return ok && bytes.Equal(x, y)
				}
				return reflect.DeepEqual(av, bv)
			}
		}
	}
	if t.Comparable() && !hasInterface(t) {
		return a.Equal(b)
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// hasInterface reports whether comparing values of t with == could panic.
func hasInterface(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Struct:
		for i := range t.NumField() {
			if hasInterface(t.Field(i).Type) {
				return true
			}
		}
	case reflect.Array:
		return hasInterface(t.Elem())
	}
	return false
}

// sameLoose compares values of different types: numbers by value, strings
// of different named types, bytes and strings.
func sameLoose(a, b reflect.Value) bool {
	ak, bk := kindClass(a), kindClass(b)
	switch {
	case ak == classInt && bk == classInt:
		return a.Int() == b.Int()
	case ak == classUint && bk == classUint:
		return a.Uint() == b.Uint()
	case ak == classInt && bk == classUint:
		return a.Int() >= 0 && uint64(a.Int()) == b.Uint()
	case ak == classUint && bk == classInt:
		return b.Int() >= 0 && uint64(b.Int()) == a.Uint()
	case ak == classFloat || bk == classFloat:
		x, ok1 := asFloat(a, ak)
		y, ok2 := asFloat(b, bk)
		return ok1 && ok2 && x == y
	case ak == classString && bk == classString:
		return a.String() == b.String()
	case ak == classString && bk == classBytes:
		return a.String() == string(b.Bytes())
	case ak == classBytes && bk == classString:
		return string(a.Bytes()) == b.String()
	case ak == classBytes && bk == classBytes:
		return bytes.Equal(a.Bytes(), b.Bytes())
	case ak == classTime && bk == classTime:
		return a.Convert(timeType).Interface().(time.Time).Equal(b.Convert(timeType).Interface().(time.Time))
	}
	return false
}

type class uint8

const (
	classOther class = iota
	classInt
	classUint
	classFloat
	classString
	classBytes
	classTime
)

func kindClass(v reflect.Value) class {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return classInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return classUint
	case reflect.Float32, reflect.Float64:
		return classFloat
	case reflect.String:
		return classString
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return classBytes
		}
	case reflect.Struct:
		if v.Type().ConvertibleTo(timeType) && v.Type().NumField() == timeType.NumField() {
			return classTime
		}
	}
	return classOther
}

func asFloat(v reflect.Value, c class) (float64, bool) {
	switch c {
	case classInt:
		return float64(v.Int()), true
	case classUint:
		return float64(v.Uint()), true
	case classFloat:
		return v.Float(), true
	}
	return 0, false
}

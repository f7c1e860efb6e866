package gormaudit

import (
	"bytes"
	"database/sql"
	"reflect"
	"time"
	"unsafe"

	"gorm.io/gorm"
)

// eqFunc reports whether the values of one column at two addresses are
// the same, as sameRV would, without boxing them.
type eqFunc func(a, b unsafe.Pointer) bool

// fieldOffset returns the offset in t of the field at index (GORM's
// StructField.Index), and false when it has none of its own: an embedded
// pointer on the way (a negative index), or an unexported step, whose
// fields GORM's reflect values cannot set.
func fieldOffset(t reflect.Type, index []int, want reflect.Type) (uintptr, bool) {
	var off uintptr
	for _, i := range index {
		if i < 0 || t.Kind() != reflect.Struct || i >= t.NumField() {
			return 0, false
		}
		sf := t.Field(i)
		if !sf.IsExported() {
			return 0, false
		}
		off += sf.Offset
		t = sf.Type
	}
	return off, len(index) > 0 && t == want
}

// eqOf returns the comparison of values of type t without boxing, or nil
// when only sameRV knows how (interfaces, structs other than times and
// the sql.Null types, Valuers whose NULL only they know…).
func eqOf(t reflect.Type) eqFunc {
	if t.Kind() != reflect.Pointer {
		return eqValue(t)
	}
	et := t.Elem()
	if et.Kind() == reflect.Pointer || et.Kind() == reflect.Interface {
		return nil
	}
	eq := eqValue(et)
	if eq == nil {
		return nil
	}
	// A nil pointer is the same as a value whose driver value is NULL
	// (sql.NullString{}); values of other types are never NULL.
	var null func(unsafe.Pointer) bool
	if et.Implements(valuerType) || reflect.PointerTo(et).Implements(valuerType) {
		validOff, ok := nullValid(et)
		if !ok {
			return nil
		}
		null = func(p unsafe.Pointer) bool { return !*(*bool)(unsafe.Add(p, validOff)) }
	}
	return func(a, b unsafe.Pointer) bool {
		pa, pb := *(*unsafe.Pointer)(a), *(*unsafe.Pointer)(b)
		switch {
		case pa == nil && pb == nil:
			return true
		case pa == nil:
			return null != nil && null(pb)
		case pb == nil:
			return null != nil && null(pa)
		}
		return eq(pa, pb)
	}
}

// nullTypes are the Valuers compared without calling Value: a payload
// (field 0) that counts only when Valid (field 1), which is what their
// Value returns.
var nullTypes = map[reflect.Type]bool{
	reflect.TypeFor[sql.NullString]():  true,
	reflect.TypeFor[sql.NullInt64]():   true,
	reflect.TypeFor[sql.NullInt32]():   true,
	reflect.TypeFor[sql.NullInt16]():   true,
	reflect.TypeFor[sql.NullByte]():    true,
	reflect.TypeFor[sql.NullFloat64](): true,
	reflect.TypeFor[sql.NullBool]():    true,
	reflect.TypeFor[sql.NullTime]():    true,
	reflect.TypeFor[gorm.DeletedAt]():  true,
}

// nullValid returns the offset of the Valid field of one of nullTypes.
func nullValid(t reflect.Type) (uintptr, bool) {
	if !nullTypes[t] {
		return 0, false
	}
	return t.Field(1).Offset, true
}

// eqValue is eqOf for a type that is not a pointer. It follows sameTyped
// case by case.
func eqValue(t reflect.Type) eqFunc {
	switch {
	case t == timeType:
		return func(a, b unsafe.Pointer) bool { return (*time.Time)(a).Equal(*(*time.Time)(b)) }
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return func(a, b unsafe.Pointer) bool { return bytes.Equal(*(*[]byte)(a), *(*[]byte)(b)) }
	case t.Kind() == reflect.Struct && t.Implements(valuerType):
		// sameTyped compares their driver values: nil and nil, or two
		// payloads (the int64 of an int32 is the same comparison)
		validOff, ok := nullValid(t)
		if !ok {
			return nil
		}
		payload := eqValue(t.Field(0).Type)
		if payload == nil || t.Field(0).Offset != 0 {
			return nil
		}
		return func(a, b unsafe.Pointer) bool {
			va, vb := *(*bool)(unsafe.Add(a, validOff)), *(*bool)(unsafe.Add(b, validOff))
			if !va || !vb {
				return va == vb
			}
			return payload(a, b)
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(a, b unsafe.Pointer) bool { return *(*bool)(a) == *(*bool)(b) }
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		if t.Size() == 8 {
			return func(a, b unsafe.Pointer) bool { return *(*uint64)(a) == *(*uint64)(b) }
		}
		return func(a, b unsafe.Pointer) bool { return *(*uint32)(a) == *(*uint32)(b) }
	case reflect.Int32, reflect.Uint32:
		return func(a, b unsafe.Pointer) bool { return *(*uint32)(a) == *(*uint32)(b) }
	case reflect.Int16, reflect.Uint16:
		return func(a, b unsafe.Pointer) bool { return *(*uint16)(a) == *(*uint16)(b) }
	case reflect.Int8, reflect.Uint8:
		return func(a, b unsafe.Pointer) bool { return *(*uint8)(a) == *(*uint8)(b) }
	case reflect.Float32:
		return func(a, b unsafe.Pointer) bool { return *(*float32)(a) == *(*float32)(b) }
	case reflect.Float64:
		return func(a, b unsafe.Pointer) bool { return *(*float64)(a) == *(*float64)(b) }
	case reflect.String:
		return func(a, b unsafe.Pointer) bool { return *(*string)(a) == *(*string)(b) }
	}
	return nil
}

// ownedAfterCopy reports whether a snapshot's copy of a column of type t
// (copied one level deep, as copyOf and deepen do) refers to no memory
// the application can write: a changeSet may then read it on the Logger's
// goroutine.
func ownedAfterCopy(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer:
		return ownedAfterCopy(t.Elem()) // the value is copied, and deepened
	case reflect.Slice:
		return flat(t.Elem())
	case reflect.Map:
		return flat(t.Key()) && flat(t.Elem())
	}
	return flat(t)
}

// flat reports whether values of t refer to no other memory (but for a
// time's immutable *time.Location).
func flat(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return flat(t.Elem())
	case reflect.Struct:
		if t.ConvertibleTo(timeType) {
			return true
		}
		for i := range t.NumField() {
			if !flat(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// needsDeepen reports whether a copy of a value of type t must copy what
// it refers to as well (deepen).
func needsDeepen(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Slice, reflect.Map, reflect.Pointer:
		return true
	}
	return false
}

// Package event defines the kansa audit event: its fields, its validation,
// and its one JSON encoding.
//
// The encoding is stable: the same Event always encodes to the same bytes
// (fields in a fixed order, times in UTC with exactly six fractional digits),
// so hashes over stored events never depend on who encoded them. Values that
// come from producers as arbitrary JSON (changes, meta, origin) are kept as
// the exact bytes the producer sent, so numbers stay exact: an id above 2^53
// is never rounded through float64.
//
// Decode reads kansa's own shape (the "schema": "kansa.audit/v1" line that
// the SDK writes). Foreign shapes such as AuditLoggable are mapped onto the
// Event by package mapping.
package event

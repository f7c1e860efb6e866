// Package mapping turns a line that was routed to audit into an event.
//
// A line is in one of the shapes kansa understands: its own (marked by
// "schema": "kansa.audit/v1", what the SDK writes) or AuditLoggable's
// ({"timestamp":…, "record":{…}}). Fields a shape does not define are kept in
// the event's meta, and for foreign shapes the original line is kept in the
// event, so nothing a producer wrote is lost.
//
// Events that arrive without an id get one derived from their source and
// their exact bytes (event.DeriveID), so reading the same input twice yields
// the same ids and readers dedupe the second copy. Two byte-identical audit
// lines from one source are therefore one event; every shape kansa maps
// carries a timestamp and a request id, which makes that the right call.
package mapping

// Package route decides, line by line, whether a log line is an audit event
// or an application log.
//
// Rules come from the config and are tried in order; the first whose
// conditions all hold decides, and a line no rule matches goes to the
// default destination. Conditions look at fields of a JSON object line
// (presence, JSON type, equality, a regular expression) or, with no field, at
// the raw line. A line that is not a valid JSON object matches no field
// condition, so malformed JSON is never mistaken for audit.
//
// The shipped rules send a line whose "record" is an object (AuditLoggable)
// and a line whose "schema" is "kansa.audit/v1" (the SDK) to audit, and
// everything else to the application log. Routing never drops a line:
// application lines are passed on unchanged, and an audit line that cannot be
// mapped goes to the error output with its reason.
package route

// Package rawjson scans JSON without building a tree: it validates a value,
// walks the fields of an object, and hands back each value as the exact bytes
// it had in the input.
//
// It exists for the hot paths of kansa: classifying a log line (is it an
// object, is its "record" field an object?) and mapping foreign shapes onto
// the event. Keeping values as raw bytes is what keeps numbers exact: an
// int64 id above 2^53 is never converted to float64, it is copied.
//
// Nothing here allocates on success except Unquote into a caller's buffer.
// Slices returned by the scanner alias the input and are valid as long as
// the input is.
package rawjson

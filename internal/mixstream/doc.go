// Package mixstream generates the mixed stdout stream of a containerised
// Rails service: application logs (lograge request lines, ActiveRecord SQL,
// analytics events, plain Ruby Logger and Puma output, Japanese messages,
// broken JSON, JSON whose "record" is not an object) interleaved with audit
// lines (AuditLoggable in its production shape, kansa SDK events). Every
// line carries its correct classification, so tests and benchmarks of
// kansa's route mode can check that each audit line is archived exactly
// once and each application line passes through byte for byte.
//
// # Invariants
//
//   - Deterministic: equal Configs give byte-identical streams.
//   - A line never contains '\n'; WriteLines terminates each with one.
//   - Every line of a kind other than MalformedJSON and PlainText is valid
//     JSON (encoding/json.Valid), and a JSON object has no duplicate keys;
//     no MalformedJSON or PlainText line is valid JSON (some PlainText
//     lines, Puma's, begin with '[').
//   - Each audit line has a Key (AuditLoggable request_uuid, KansaSDK id)
//     that is unique within a Generator and that no other generated id can
//     equal: keys are UUIDs with variant nibble 8, every other UUID in the
//     stream has variant nibble a.
//   - Audit lines carry int64 numbers above 2^53 (ids and external_id
//     columns), so a mapper that goes through float64 loses digits and a
//     test can tell.
//   - Kansa SDK events number their seq gap-free per stream.
//
// # Mix
//
// A line is an audit line with probability Config.AuditRatio (30% by
// default; kinds are drawn independently per line). Audit lines are 70%
// AuditLoggable, 15% KansaSDK, 8% AuditLoggableNullUser and 7%
// AuditJapanese, plus, with Config.Huge, AuditHugeChanges at about one
// line in 5,000. Application lines are 33% Lograge, 30% ActiveRecordSQL,
// 14% PlainText, 10% Analytics, 6% JapaneseText, 4% MalformedJSON and 3%
// RecordNotObject. Config.Kinds replaces this mix with a round-robin.
//
// Line lengths follow Config.MeanLineLen: each line gets a target length
// spread around the mean and corrected by the running shortfall, and is
// padded up to it in the field a real line would grow in. Short kinds
// (a Puma banner, an SQL COMMIT) stay short.
//
// # Cost
//
// Next appends into a buffer the Generator reuses and allocates only the
// key string of an audit line; Line.Text is valid until the next call.
package mixstream

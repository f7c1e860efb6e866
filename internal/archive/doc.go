// Package archive turns batches of WAL records into archive objects: gzip
// NDJSON files under Hive-style prefixes, and one manifest per batch.
//
// A batch is an immutable range of WAL records [First, Last] cut by the
// batch stage. Every object written for it has a key derived only from the
// prefix template, the writer's id and that range:
//
//	<prefix>kansa-<writer>-<first>-<last>.ndjson.gz
//	_kansa/manifests/writer=<writer>/<first>-<last>.json
//
// so writing the same batch again (after a crash, or a retry) overwrites the
// same objects with the same bytes, and two collectors with different writer
// ids never collide. The prefix is evaluated per event on the event's own
// time, so one batch may write several objects. Events and rejects of the
// batch keep their WAL order inside each object.
//
// The manifest is the batch's record of what was written: counts, time and
// sequence ranges, and the SHA-256 of every file. It is written last, so a
// manifest present means every file it lists is in place; readers (search,
// verify) start from manifests.
package archive

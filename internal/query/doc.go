// Package query is kansa's search language: one text form, read the same way
// by the CLI (kansa search), the HTTP API and the web UI, and the predicate
// that decides whether an event matches.
//
// # The language
//
// A query is a list of qualifier:value terms separated by spaces, in the
// style of GitHub's audit log:
//
//	actor:User:42 action:update target:Order:17 created:>=2024-08-01
//
// Every term must hold (AND). Giving actor, actor_type, action, target,
// target_type, source, tenant or request_id more than once means any of its
// values (OR): "action:create action:update" finds creates and updates;
// outcome takes one value (leave it out to match both). The empty query
// matches every event.
//
//	qualifier     matches                                 example
//	---------     -------                                 -------
//	actor         the actor, exactly (TYPE:ID)            actor:User:42
//	actor_type    the actor's type                        actor_type:Admin::Account
//	action        the action; a trailing * is a prefix    action:update  action:user.*
//	target        the target record, exactly (TYPE:ID)    target:Order:17
//	target_type   the target's type                       target_type:Order
//	source        the producer or input                   source:app:kakari
//	tenant        the tenant                              tenant:default
//	request_id    context.request_id                      request_id:r-1
//	outcome       success or failure                      outcome:failure
//	created       the event's time (see below)            created:>=2024-08-01
//
// Records are named TYPE:ID as everywhere in kansa (see event.ParseRef): the
// id follows the last colon, and is quoted when it has colons or spaces:
// target:AWS::S3::Bucket:"arn:aws:s3:::logs", actor:User:"a b". Only the id
// may be quoted. An id written as a number matches the same id sent by a
// producer as a JSON number: actor:User:42 matches "actor":{"id":42}.
//
// Any other value may be put in double quotes to include spaces:
// source:"app one". Inside quotes, write \" for a quote and \\ for a
// backslash (Go's escapes). Spaces are any Unicode space, so a full-width
// space typed by a Japanese input method separates terms too.
//
// action:destroy searches for delete, the action that Ruby's destroy is
// stored as (see event.CanonicalAction).
//
// # Times
//
// created filters on the event's time:
//
//	created:>=T  created:>T  created:<=T  created:<T  created:=T  created:T
//	created:T1..T2   (both ends included)   created:T1..*   created:*..T2
//
// T is a date (2024-08-01), a date and hour (2024-08-01T09), a date and
// minute (2024-08-01T09:30), or a full time with an optional fraction of a
// second (2024-08-01T09:30:00, 2024-08-01T09:30:00.5). A time may end in an
// offset, Z or ±HH:MM, as in RFC 3339 (2024-08-01T09:00:00+09:00); a time
// without one, and every date, is read in the time zone given to Parse.
//
// A value stands for the whole span it writes out: 2024-08-01 is that whole
// day, 2024-08-01T09 is the hour from 09:00 up to 10:00, 2024-08-01T09:00:00Z
// is that whole second. So created:2024-08-01 finds the events of that day,
// created:>2024-08-01 finds events from the next day on, created:<=2024-08-01
// includes all of that day, and created:2024-08-01..2024-08-31 is all of
// August. Several created terms narrow each other.
//
// # Parsed form
//
// Parse turns the text into a Query, whose fields are the conditions; Since
// and Until are always in UTC, Since inclusive and Until exclusive, so the
// time zone matters only while parsing. String writes a Query back as
// canonical text (qualifiers in a fixed order, times in UTC) that Parse reads
// back to an equal Query in any time zone.
//
// A query that cannot be parsed gives a *SyntaxError, whose message is meant
// for the person who typed the query and says what to write instead.
//
// A Query is a plain value: once built it is safe to Match from many
// goroutines as long as nobody changes it. Match does not allocate.
package query

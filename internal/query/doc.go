// Package query is kansa's search language: one text form, read the same way
// by the CLI (kansa search), the HTTP API and the web UI, and the predicate
// that decides whether an event matches.
//
// # The language
//
// A query is a list of terms separated by spaces, in the style of GitHub's
// audit log:
//
//	actor:User:42 action:update target:Order:17 created:>=2024-08-01 -action:*.view
//
// A term is qualifier:value, where the qualifier is what precedes the first
// colon, or a bare word (see Full text). Every term must hold (AND). Within a
// term, commas separate values of which any may match (OR):
// action:create,delete finds creates and deletes, and so does giving the
// qualifier twice, "action:create action:delete". A - before a term
// excludes what it matches (see Exclusions). The empty query matches every
// event.
//
//	qualifier     matches                                 example
//	---------     -------                                 -------
//	actor         the actor (TYPE:ID)                     actor:User:42  actor:User:*
//	actor_type    the actor's type                        actor_type:Admin::Account
//	action        the action                              action:update  action:*.view
//	target        the target record (TYPE:ID)             target:Order:17  target:Order:*
//	target_type   the target's type                       target_type:Order
//	source        the producer or input                   source:app:kakari  source:app:*
//	tenant        the tenant                              tenant:default
//	request_id    context.request_id (also request:)      request_id:r-1  request:r-1
//	ip            context.ip: address, block or pattern   ip:10.0.0.0/8  ip:2001:db8::/32
//	outcome       success or failure (one value)          outcome:failure
//	created       the event's time (see Times)            created:>=2024-08-01  created:>now-7d
//
// An unknown qualifier is an error that lists the known ones and suggests
// the closest: actr:User:1 gives `unknown qualifier "actr" (did you mean
// actor?)`. To search for text with a colon in it, quote it: "12:30".
//
// Records are named TYPE:ID as everywhere in kansa (see event.ParseRef): the
// id follows the last colon, and is quoted when it has colons, commas or
// spaces: target:Admin::Setting:17, target:AWS::S3::Bucket:"arn:aws:s3:::logs",
// actor:User:"a,b". Only the id may be quoted. An id written as a number
// matches the same id sent by a producer as a JSON number: actor:User:42
// matches "actor":{"id":42}.
//
// Any other value may be put in double quotes to include spaces or commas:
// source:"app one". Inside quotes, write \" for a quote and \\ for a
// backslash (Go's escapes), and \* for a star that is not a wildcard. A
// comma inside quotes is part of the value. Spaces are any Unicode space,
// so a full-width space typed by a Japanese input method separates terms
// too.
//
// action:destroy searches for delete, the action that Ruby's destroy is
// stored as (see event.CanonicalAction). Heartbeats of producer streams
// (action kansa.heartbeat) are left out unless an action term selects
// them: action:kansa.heartbeat, action:kansa.*, action:*.
//
// # Wildcards
//
// In the values of actor, actor_type, action, target, target_type, source,
// tenant, request_id and ip, * stands for any run of characters, none
// included, anywhere in the value and as often as needed: action:*.view,
// action:user.*, source:app:*, tenant:ac*me. A value without * is matched
// exactly, and case matters. A * inside quotes is a wildcard too; write \*
// for a star itself (source:"a\*b"). A wildcard matches only a field the
// event has: request_id:* finds the events with a request id, and actor:*
// those with an actor.
//
// A record with a wildcard is matched against its text TYPE:ID, the id
// unquoted: target:Order:* finds every order, target:Admin::* every type
// under Admin::, actor:*:42 id 42 of any type, and
// target:AWS::S3::Bucket:"arn:aws:s3:::*" every bucket of that ARN prefix.
//
// # Exclusions
//
// A - right before a term excludes the events it matches:
// -action:*.view leaves out views, -actor:User:1,User:2 leaves out both
// actors, and several exclusions all apply. An event without the field
// (no actor, no request id) is never excluded by it. A word can be excluded
// too (-word, -"two words"). created and outcome cannot be excluded: write
// the opposite instead (created:<2024-08-01 for -created:>=2024-08-01,
// outcome:success for -outcome:failure); Parse says what to write.
//
// # IP addresses
//
// ip matches context.ip. Its value is an address (ip:10.1.2.3,
// ip:2001:db8::1), which matches however the event writes that address
// (2001:DB8:0::1, or with a port: 10.1.2.3:443, [2001:db8::1]:443); a CIDR
// block (ip:10.0.0.0/8, ip:2001:db8::/32), which matches every address in
// it; or a pattern with *, matched against the text as the event has it
// (ip:10.1.*). IPv4-mapped IPv6 addresses (::ffff:10.1.2.3) count as IPv4 on
// both sides, zones (%eth0) are ignored, and a block is read as its network
// (10.1.2.3/8 is 10.0.0.0/8). Anything else is an error. An event whose
// context.ip is not an address matches only patterns.
//
// # Full text
//
// A term without a qualifier is full text: a word (b@x.com) or a phrase in
// double quotes ("two words", also to search for text with a colon, "12:30",
// or starting with a -, "-1"). Each must be found in the event's changes or
// meta, and none of the excluded ones (-word). Found means: inside one JSON
// string or number of changes or meta, ignoring case. Strings are both
// object keys and values, read with their escapes decoded (caf\u00e9 is
// café); numbers are read as written (1200 is found by 20); true, false and
// null are not text. So b@x.com finds {"email":["a@x.com","b@x.com"]}, email
// finds it too (the key), but "a@x.com b@x.com" does not (two strings).
// Case is ignored by Unicode simple folding (É is é, K is k, but ß is not
// ss, nor ｔ t). Commas are part of a word, and a * in a word is an error:
// words are found anywhere inside a value already (write "\*" for a star).
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
// T may also be relative to now: now, or now- a number and a unit, s
// (seconds), m (minutes), h (hours), d (days of 24 hours) or w (weeks of 7
// days): created:>now-7d, created:now-14d..now-7d, created:>=now-12h. Days
// and weeks are fixed lengths, so relative times do not depend on the time
// zone. Parse reads now from the clock (ParseAt takes it as an argument).
//
// A value stands for the whole span it writes out: 2024-08-01 is that whole
// day, 2024-08-01T09 is the hour from 09:00 up to 10:00, 2024-08-01T09:00:00Z
// is that whole second, and a relative time is a whole second (now is the
// current second). So created:2024-08-01 finds the events of that day,
// created:>2024-08-01 finds events from the next day on, created:<=2024-08-01
// includes all of that day, and created:2024-08-01..2024-08-31 is all of
// August. Several created terms narrow each other. created takes one value:
// no commas.
//
// # Parsed form
//
// Parse turns the text into a Query, whose fields are the conditions, kept
// in three kinds so that an index can use what it can look up: exact sets
// (Actors, Actions, IPs…: the values a field may have), Filters (wildcards
// and exclusions, checked one by one) and Text. A qualifier's values go to
// its exact set when none has a wildcard, and otherwise all to one Filter.
// Since and Until are always in UTC, Since inclusive and Until exclusive, so
// the time zone (and the time of parsing, for relative times) matters only
// while parsing. String writes a Query back as canonical text (qualifiers in
// a fixed order, one term per value, times in UTC and absolute) that Parse
// reads back to an equal Query in any time zone and at any time.
//
// A query that cannot be parsed gives a *SyntaxError, whose message is meant
// for the person who typed the query and says what to write instead.
//
// A Query is a plain value: once built it is safe to Match from many
// goroutines as long as nobody changes it. Match does not allocate: patterns
// are split at Parse time, addresses and full text are read in place.
package query

package mixstream

import (
	"strings"
	"unicode/utf8"
)

// Application line writers. Each appends one line to b and returns it.
// Padding goes into the field a real line of that kind grows in: query
// strings and params, SQL column and IN lists, analytics props, messages.

func (g *Generator) lograge(b []byte) []byte {
	r := routes[g.intn(len(routes))]
	status := r.status
	if g.chance(60) {
		status = statuses[g.intn(len(statuses))]
	}
	var id int64
	b = append(b, `{"method":"`...)
	b = append(b, r.method...)
	b = append(b, `","path":"`...)
	b = append(b, r.path...)
	if r.id {
		id = g.id(0)
		b = appendInt(b, id)
	}
	b = append(b, `","format":"`...)
	b = append(b, r.format...)
	b = append(b, `","controller":"`...)
	b = append(b, r.controller...)
	b = append(b, `","action":"`...)
	b = append(b, r.action...)
	b = append(b, `","status":`...)
	b = appendInt(b, int64(status))
	b = append(b, `,"allocations":`...)
	b = appendInt(b, int64(g.intn(40_000)+300))
	view, db := g.intn(3000), g.intn(2000)
	b = append(b, `,"duration":`...)
	b = appendFixed(b, view+db+g.intn(1500)+50)
	b = append(b, `,"view":`...)
	b = appendFixed(b, view)
	b = append(b, `,"db":`...)
	b = appendFixed(b, db)
	b = append(b, `,"request_id":"`...)
	b = g.appendRequestID(b)
	b = append(b, `","remote_ip":"`...)
	b = g.appendIP(b)
	b = append(b, `","user_agent":"`...)
	b = append(b, g.pick(userAgents)...)
	b = append(b, `","params":{"locale":"ja"`...)
	if r.id {
		b = append(b, `,"id":"`...)
		b = appendInt(b, id)
		b = append(b, '"')
	}
	b, rest := g.fillMembers(b, g.budget(b, 37), paramMembers)
	if rest > 0 {
		b = append(b, `,"return_to":"`...)
		b = append(b, r.path...)
		b = append(b, "?locale=ja"...)
		b = g.fillSep(b, rest-30, "&", queryParams)
		b = append(b, '"')
	}
	b = append(b, `},"time":"`...)
	b = g.appendJST(b, 0)
	return append(b, `"}`...)
}

func (g *Generator) sql(b []byte) []byte {
	t := &tables[g.intn(len(tables))]
	ansi := g.chance(200)
	b = append(b, `{"level":"DEBUG","time":"`...)
	b = g.appendJST(b, 3)
	b = append(b, `","message":"  `...)
	if ansi {
		b = append(b, `\u001b[1m\u001b[36m`...)
	}
	op := g.intn(100)
	switch {
	case op < 10:
		b = append(b, "TRANSACTION"...)
	default:
		b = append(b, t.model...)
		switch {
		case op < 65:
			b = append(b, " Load"...)
		case op < 75:
			b = append(b, " Count"...)
		case op < 83:
			b = append(b, " Exists?"...)
		case op < 93:
			b = append(b, " Update"...)
		default:
			b = append(b, " Create"...)
		}
	}
	b = append(b, " ("...)
	b = appendFixed(b, g.intn(300)+10)
	b = append(b, "ms)"...)
	if ansi {
		b = append(b, `\u001b[0m  \u001b[1m\u001b[34m`...)
	} else {
		b = append(b, "  "...)
	}
	const tail = 60 // closing the statement, binds and `","tag":"sql"}`
	switch {
	case op < 10:
		if g.chance(500) {
			b = append(b, "BEGIN"...)
		} else {
			b = append(b, "COMMIT"...)
		}
		if ansi {
			b = append(b, `\u001b[0m`...)
		}
	case op < 65:
		// SELECT by id; padded first with an explicit column list, then
		// with more ids in an IN list.
		b = append(b, "SELECT "...)
		if g.budget(b, tail) > 250 {
			for i, c := range t.columns {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = appendQuotedCol(b, t.name, c)
			}
		} else {
			b = append(b, `\"`...)
			b = append(b, t.name...)
			b = append(b, `\".*`...)
		}
		b = append(b, ` FROM \"`...)
		b = append(b, t.name...)
		b = append(b, `\" WHERE `...)
		b = appendQuotedCol(b, t.name, "id")
		n := 1
		if rest := g.budget(b, tail); rest > 40 {
			n = min(rest/24, 500)
		}
		first := g.id(0)
		if n == 1 {
			b = append(b, " = $1 LIMIT $2"...)
		} else {
			b = append(b, " IN ("...)
			for i := range n {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = append(b, '$')
				b = appendInt(b, int64(i+1))
			}
			b = append(b, ')')
		}
		if ansi {
			b = append(b, `\u001b[0m`...)
		}
		b = append(b, "  ["...)
		for i := range n {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, `[\"id\", `...)
			b = appendInt(b, first+int64(i*7))
			b = append(b, ']')
		}
		if n == 1 {
			b = append(b, `, [\"LIMIT\", 1]`...)
		}
		b = append(b, ']')
	case op < 75:
		b = append(b, `SELECT COUNT(*) FROM \"`...)
		b = append(b, t.name...)
		b = append(b, `\" WHERE `...)
		b = appendQuotedCol(b, t.name, "created_at")
		b = append(b, " >= $1"...)
		if ansi {
			b = append(b, `\u001b[0m`...)
		}
		b = append(b, `  [[\"created_at\", \"2024-07-01 00:00:00\"]]`...)
	case op < 83:
		b = append(b, `SELECT 1 AS one FROM \"`...)
		b = append(b, t.name...)
		b = append(b, `\" WHERE `...)
		b = appendQuotedCol(b, t.name, "id")
		b = append(b, " = $1 LIMIT $2"...)
		if ansi {
			b = append(b, `\u001b[0m`...)
		}
		b = append(b, `  [[\"id\", `...)
		b = g.appendID(b, 0)
		b = append(b, `], [\"LIMIT\", 1]]`...)
	case op < 93:
		b = append(b, `UPDATE \"`...)
		b = append(b, t.name...)
		b = append(b, `\" SET \"updated_at\" = $1 WHERE `...)
		b = appendQuotedCol(b, t.name, "id")
		b = append(b, " = $2"...)
		if ansi {
			b = append(b, `\u001b[0m`...)
		}
		b = append(b, `  [[\"updated_at\", \"`...)
		b = g.appendSQLTime(b)
		b = append(b, `\"], [\"id\", `...)
		b = g.appendID(b, 0)
		b = append(b, "]]"...)
	default:
		b = append(b, `INSERT INTO \"`...)
		b = append(b, t.name...)
		b = append(b, `\" (\"created_at\", \"updated_at\") VALUES ($1, $2) RETURNING \"id\"`...)
		if ansi {
			b = append(b, `\u001b[0m`...)
		}
		b = append(b, `  [[\"created_at\", \"`...)
		b = g.appendSQLTime(b)
		b = append(b, `\"], [\"updated_at\", \"`...)
		b = g.appendSQLTime(b)
		b = append(b, `\"]]`...)
	}
	return append(b, `","tag":"sql"}`...)
}

// appendQuotedCol appends \"table\".\"col\" (escaped for a JSON string).
func appendQuotedCol(b []byte, table, col string) []byte {
	b = append(b, `\"`...)
	b = append(b, table...)
	b = append(b, `\".\"`...)
	b = append(b, col...)
	return append(b, `\"`...)
}

// appendSQLTime appends the clock as ActiveRecord binds it: UTC, space
// separated, microseconds.
func (g *Generator) appendSQLTime(b []byte) []byte {
	g.prefix()
	b = append(b, g.utc[:10]...)
	b = append(b, ' ')
	b = append(b, g.utc[11:]...)
	return g.appendFrac(b, 6)
}

func (g *Generator) analytics(b []byte) []byte {
	b = append(b, `{"label":"analytics","event":"`...)
	b = append(b, g.pick(analyticsEvents)...)
	b = append(b, `","user_id":`...)
	if g.chance(300) {
		b = append(b, "null"...)
	} else {
		b = g.appendID(b, 0)
	}
	b = append(b, `,"anonymous_id":"`...)
	b = g.appendRequestID(b)
	b = append(b, `","time":"`...)
	b = g.appendUTC(b, 3)
	r := routes[g.intn(len(routes))]
	b = append(b, `","props":{"path":"`...)
	b = append(b, r.path...)
	if r.id {
		b = g.appendID(b, 0)
	}
	b = append(b, `","referrer":"`...)
	b = append(b, g.pick(referrers)...)
	b = append(b, `","screen":{"w":1920,"h":1080},"ua":"`...)
	b = append(b, g.pick(userAgents)...)
	b = append(b, '"')
	b, rest := g.fillMembers(b, g.budget(b, 2), paramMembers)
	if rest > 0 {
		b = append(b, `,"url":"https://shop.example.com`...)
		b = append(b, r.path...)
		b = append(b, "?locale=ja"...)
		b = g.fillSep(b, rest-50, "&", queryParams)
		b = append(b, '"')
	}
	return append(b, "}}"...)
}

// appendRubyPrefix appends a Ruby Logger prefix with a tagged request id:
// `I, [2024-08-06T18:00:59.981234 #1]  INFO -- : [req-id] `.
func (g *Generator) appendRubyPrefix(b []byte, level int) []byte {
	g.prefix()
	b = append(b, rubyLevels[2*level]...)
	b = append(b, ", ["...)
	b = append(b, g.jst[:]...)
	b = g.appendFrac(b, 6)
	b = append(b, " #1] "...)
	b = append(b, rubyLevels[2*level+1]...)
	b = append(b, " -- : ["...)
	b = g.appendRequestID(b)
	return append(b, "] "...)
}

// Ruby Logger levels, as indexes into rubyLevels pairs.
const (
	rubyInfo  = 0
	rubyDebug = 3
	rubyWarn  = 4
	rubyError = 5
)

func (g *Generator) plainText(b []byte) []byte {
	r := routes[g.intn(len(routes))]
	v := g.intn(100)
	switch {
	case v < 25:
		b = g.appendRubyPrefix(b, rubyInfo)
		b = append(b, "Started "...)
		b = append(b, r.method...)
		b = append(b, ` "`...)
		b = append(b, r.path...)
		if r.id {
			b = g.appendID(b, 0)
		}
		if pad := g.budget(b, 55); pad > 0 {
			b = append(b, "?locale=ja"...)
			b = g.fillSep(b, pad-10, "&", queryParams)
		}
		b = append(b, `" for `...)
		b = g.appendIP(b)
		b = append(b, " at "...)
		b = append(b, g.jst[:10]...)
		b = append(b, ' ')
		b = append(b, g.jst[11:]...)
		b = append(b, " +0900"...)
	case v < 40:
		b = g.appendRubyPrefix(b, rubyInfo)
		b = append(b, "Processing by "...)
		b = append(b, r.controller...)
		b = append(b, '#')
		b = append(b, r.action...)
		b = append(b, " as "...)
		if r.format == "json" {
			b = append(b, "JSON"...)
		} else {
			b = append(b, "HTML"...)
		}
	case v < 55:
		b = g.appendRubyPrefix(b, rubyInfo)
		b = append(b, `  Parameters: {"locale"=>"ja"`...)
		if r.id {
			b = append(b, `, "id"=>"`...)
			b = g.appendID(b, 0)
			b = append(b, '"')
		}
		end := len(b) + g.budget(b, 1)
		for i := g.intn(len(queryParams)); len(b) < end; i++ {
			k, val, _ := strings.Cut(queryParams[i%len(queryParams)], "=")
			b = append(b, `, "`...)
			b = append(b, k...)
			b = append(b, `"=>"`...)
			b = append(b, val...)
			b = append(b, '"')
		}
		b = append(b, '}')
	case v < 70:
		status := r.status
		if g.chance(60) {
			status = statuses[g.intn(len(statuses))]
		}
		b = g.appendRubyPrefix(b, rubyInfo)
		b = append(b, "Completed "...)
		b = appendInt(b, int64(status))
		b = append(b, ' ')
		b = append(b, statusText(status)...)
		b = append(b, " in "...)
		b = appendInt(b, int64(g.intn(400)+2))
		b = append(b, "ms (Views: "...)
		b = appendFixed(b, g.intn(3000))
		b = append(b, "ms | ActiveRecord: "...)
		b = appendFixed(b, g.intn(2000))
		b = append(b, "ms | Allocations: "...)
		b = appendInt(b, int64(g.intn(40_000)+300))
		b = append(b, ')')
	case v < 80:
		b = g.appendRubyPrefix(b, rubyDebug)
		b = append(b, "  Rendered "...)
		b = append(b, "orders/show.html.erb within layouts/application (Duration: "...)
		b = appendFixed(b, g.intn(900)+10)
		b = append(b, "ms | Allocations: "...)
		b = appendInt(b, int64(g.intn(5000)+100))
		b = append(b, ')')
	case v < 88:
		b = append(b, g.pick(pumaLines)...)
	case v < 93:
		b = g.appendRubyPrefix(b, rubyError)
		b = append(b, "ActiveRecord::RecordNotFound (Couldn't find Order with 'id'="...)
		b = g.appendID(b, 0)
		b = append(b, "):"...)
	case v < 97:
		b = g.appendRubyPrefix(b, rubyError)
		b = append(b, "  "...)
		b = append(b, g.pick(stackFrames)...)
	default:
		// Sidekiq's default formatter.
		b = g.appendUTC(b, 3)
		b = append(b, " pid=7 tid="...)
		b = appendHex(b, g.rng.Uint64(), 4)
		b = append(b, " class=OrderMailer::DeliveryJob jid="...)
		b = appendHex(b, g.rng.Uint64(), 12)
		b = append(b, " INFO: done: "...)
		b = appendFixed(b, g.intn(500)+1)
		b = append(b, " sec"...)
	}
	return b
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 401:
		return "Unauthorized"
	case 404:
		return "Not Found"
	case 422:
		return "Unprocessable Content"
	case 500:
		return "Internal Server Error"
	}
	return "Unknown"
}

// malformed appends a line that looks like JSON but is not valid JSON.
func (g *Generator) malformed(b []byte) []byte {
	start := len(b)
	v := g.intn(100)
	switch {
	case v < 20:
		// A lograge line cut short, as when a container is killed mid-write.
		b = g.lograge(b)
		return g.truncate(b, start)
	case v < 40:
		// A truncated audit line: a router must not archive it. Its
		// request_uuid is never reported as a key.
		b, _ = g.auditLoggable(b, AuditLoggable)
		return g.truncate(b, start)
	case v < 55:
		// Two writes that lost the newline between them, or trailing junk.
		b = g.sql(b)
		switch g.intn(3) {
		case 0:
			return append(b, `{"level":"INFO","message":"cache hit"}`...)
		case 1:
			return append(b, '}')
		default:
			return append(b, " 200 OK"...)
		}
	case v < 63:
		b = append(b, `{'level': 'INFO', 'message': 'Started GET /orders/`...)
		b = g.appendID(b, 0)
		b = append(b, `', 'time': '`...)
		b = g.appendJST(b, 3)
		return append(b, `'}`...)
	case v < 71:
		g.prefix()
		b = append(b, `{"id"=>`...)
		b = g.appendID(b, 0)
		b = append(b, `, "status"=>"`...)
		b = append(b, g.pick(statusValues)...)
		b = append(b, `", "updated_at"=>`...)
		b = append(b, g.jst[:10]...)
		b = append(b, ' ')
		b = append(b, g.jst[11:]...)
		return append(b, ` +0900}`...)
	case v < 79:
		b = append(b, `{"level":"INFO","message":"cache hit","key":"orders/`...)
		b = g.appendID(b, 0)
		return append(b, `",}`...)
	case v < 86:
		b = append(b, `{"level":"INFO","metric":"checkout.latency","value":`...)
		if g.chance(500) {
			b = append(b, "NaN"...)
		} else {
			b = append(b, "Infinity"...)
		}
		return append(b, '}')
	case v < 92:
		return append(b, "{\"level\":\"WARN\",\"message\":\"csv row skipped:\torder_id\tstatus\"}"...)
	case v < 96:
		b = append(b, `{level: "info", msg: "job finished", job_id: `...)
		b = g.appendID(b, 0)
		return append(b, '}')
	default:
		return append(b, `{"level":"ERROR","message":"cannot open C:\Users\app\storage\export.csv"}`...)
	}
}

// truncate cuts the line that starts at b[start] somewhere between a third
// of the way in and its last byte, exclusive: a strict prefix of a JSON
// object is never valid JSON.
func (g *Generator) truncate(b []byte, start int) []byte {
	n := len(b) - start
	return b[:start+n/3+g.intn(n-n/3-1)]
}

func (g *Generator) recordNotObject(b []byte) []byte {
	first := g.chance(500)
	b = append(b, '{')
	if first {
		b = append(b, `"timestamp":"`...)
		b = g.appendJST(b, 3)
		b = append(b, `",`...)
	}
	b = append(b, `"record":`...)
	switch g.intn(5) {
	case 0:
		b = append(b, `"Order#`...)
		b = g.appendID(b, 0)
		b = append(b, ` saved"`...)
	case 1:
		b = g.appendID(b, 100)
	case 2:
		b = append(b, `[{"id":`...)
		b = g.appendID(b, 0)
		b = append(b, `,"type":"Order"},{"id":`...)
		b = g.appendID(b, 0)
		b = append(b, `,"type":"Order"}]`...)
	case 3:
		b = append(b, "null"...)
	default:
		b = append(b, "true"...)
	}
	b = append(b, `,"level":"info","message":"`...)
	b = append(b, "record sync: "...)
	b = g.fill(b, g.budget(b, 40), memoWords)
	b = append(b, '"')
	if !first {
		b = append(b, `,"timestamp":"`...)
		b = g.appendJST(b, 3)
		b = append(b, '"')
	}
	return append(b, '}')
}

func (g *Generator) japaneseText(b []byte) []byte {
	msg := g.pick(jaMessages)
	if g.chance(400) {
		b = g.appendRubyPrefix(b, rubyInfo)
		b = append(b, msg...)
		b = append(b, " order_id="...)
		b = g.appendID(b, 0)
		b = append(b, ' ')
		return g.fill(b, g.budget(b, 0), jaFiller)
	}
	b = append(b, `{"level":"INFO","time":"`...)
	b = g.appendJST(b, 3)
	b = append(b, `","message":"`...)
	if g.chance(200) {
		b = appendUnicodeEscaped(b, msg) // as Ruby's JSON with ascii_only
	} else {
		b = append(b, msg...)
	}
	b = append(b, `","user_id":`...)
	b = g.appendID(b, 0)
	b = append(b, `,"detail":"`...)
	b = g.fill(b, g.budget(b, 2), jaFiller)
	return append(b, `"}`...)
}

// appendUnicodeEscaped appends s with every non-ASCII rune as \uXXXX
// (surrogate pairs above the BMP). s must be safe inside a JSON string.
func appendUnicodeEscaped(b []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf {
			b = append(b, byte(r))
			continue
		}
		if r > 0xffff {
			r -= 0x10000
			b = appendU(b, 0xd800+(r>>10))
			b = appendU(b, 0xdc00+(r&0x3ff))
			continue
		}
		b = appendU(b, r)
	}
	return b
}

func appendU(b []byte, r rune) []byte {
	b = append(b, '\\', 'u')
	return appendHex(b, uint64(r), 4)
}

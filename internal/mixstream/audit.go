package mixstream

// Audit line writers. Each returns the line and its key.

// valKind says how to generate a column's value in audit changes.
type valKind uint8

const (
	vStatus valKind = iota
	vCents
	vBigID // an int64 above 2^53, as a JSON number
	vID
	vName
	vEmail
	vTitle
	vBool
	vTime
	vNullTime
	vRole
	vCount
	vInvoiceNo
	vLocale
	vJaName
	vJaAddress
	vJaNote
)

type column struct {
	name string
	val  valKind
}

type auditType struct {
	name string
	cols []column
}

// auditTypes are auditable record types with the columns their changes
// touch; "::" in a type tests the TYPE:ID naming rule.
var auditTypes = []auditType{
	{"Order", []column{{"status", vStatus}, {"total_cents", vCents}, {"user_id", vID}, {"external_id", vBigID}, {"shipped_at", vNullTime}}},
	{"Order", []column{{"status", vStatus}, {"shipped_at", vNullTime}, {"total_cents", vCents}}},
	{"User", []column{{"name", vName}, {"email", vEmail}, {"locale", vLocale}, {"sign_in_count", vCount}}},
	{"Shop::Item", []column{{"title", vTitle}, {"price_cents", vCents}, {"stock", vCount}, {"published", vBool}}},
	{"Invoice", []column{{"number", vInvoiceNo}, {"amount_cents", vCents}, {"external_id", vBigID}, {"order_id", vID}}},
	{"Admin::Setting", []column{{"maintenance_mode", vBool}, {"support_email", vEmail}}},
	{"Admin::Account", []column{{"role", vRole}, {"otp_required", vBool}, {"locked_at", vNullTime}, {"email", vEmail}}},
}

var jaAuditTypes = []auditType{
	{"User", []column{{"name", vJaName}, {"address", vJaAddress}}},
	{"Shop::Customer", []column{{"name", vJaName}, {"address", vJaAddress}, {"note", vJaNote}}},
}

var auditActions = []string{"update", "update", "update", "update", "update", "update", "create", "create", "destroy", "destroy"}

// auditLoggable appends an AuditLoggable line of kind k (one of the
// AuditLoggable kinds, AuditJapanese or AuditHugeChanges).
func (g *Generator) auditLoggable(b []byte, k Kind) ([]byte, string) {
	types := auditTypes
	if k == AuditJapanese {
		types = jaAuditTypes
	}
	t := &types[g.intn(len(types))]
	action := g.pick(auditActions)

	b = append(b, `{"timestamp":"`...)
	b = g.appendJST(b, 3)
	b = append(b, `","record":{"auditable":{"id":`...)
	b = g.appendID(b, 50)
	b = append(b, `,"type":"`...)
	b = append(b, t.name...)
	b = append(b, `"},"user":`...)
	if k == AuditLoggableNullUser {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"id":`...)
		b = g.appendID(b, 20)
		b = append(b, `,"type":"`...)
		b = append(b, g.pick(userTypes)...)
		b = append(b, `"}`...)
	}
	b = append(b, `,"action":"`...)
	b = append(b, action...)
	b = append(b, `","changes":`...)

	const tail = 90 // remote_address, request_uuid and closing braces
	g.scratch = g.scratch[:0]
	switch k {
	case AuditHugeChanges:
		g.scratch = g.hugeChanges(g.scratch, action)
	default:
		g.scratch = g.changes(g.scratch, t.cols, action, g.budget(b, tail), k == AuditJapanese)
	}
	if g.chance(700) {
		b = appendJSONString(b, g.scratch) // the verbatim production shape
	} else {
		b = append(b, g.scratch...)
	}
	if cap(g.scratch) > 1<<20 {
		g.scratch = nil
	}

	b = append(b, `,"remote_address":`...)
	if k == AuditLoggableNullUser && g.chance(500) {
		b = append(b, "null"...) // a background job: no request
	} else {
		b = append(b, '"')
		b = g.appendIP(b)
		b = append(b, '"')
	}
	b = append(b, `,"request_uuid":"`...)
	b, key := g.appendKeyUUIDv4(b)
	return append(b, `"}}`...), key
}

// changes appends a changes object: {column: [old, new]} for an update,
// {column: value} for create and destroy. It pads with a "memo" column
// until about pad bytes have been written.
func (g *Generator) changes(b []byte, cols []column, action string, pad int, ja bool) []byte {
	start := len(b)
	b = append(b, '{')
	update := action == "update"
	from, n := 0, len(cols)
	if update {
		from, n = g.intn(len(cols)), 1+g.intn(min(3, len(cols)))
	}
	for i := range n {
		c := cols[(from+i)%len(cols)]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, c.name...)
		b = append(b, `":`...)
		if update {
			b = append(b, '[')
			b = g.appendValue(b, c.val)
			b = append(b, ',')
			b = g.appendValue(b, c.val)
			b = append(b, ']')
		} else {
			b = g.appendValue(b, c.val)
		}
	}
	if rest := pad - (len(b) - start) - 12; rest > 20 {
		frags := memoWords
		if ja {
			frags = jaFiller
		}
		b = append(b, `,"memo":`...)
		if update {
			b = append(b, `["`...)
			b = g.fill(b, rest/2-4, frags)
			b = append(b, `","`...)
			b = g.fill(b, rest/2-4, frags)
			b = append(b, `"]`...)
		} else {
			b = append(b, '"')
			b = g.fill(b, rest-2, frags)
			b = append(b, '"')
		}
	}
	return append(b, '}')
}

// hugeChanges appends a changes object of about hugeSize bytes: a long
// text column such as a CMS page body or an imported document.
func (g *Generator) hugeChanges(b []byte, action string) []byte {
	b = append(b, `{"title":"Terms of service (2024-08 revision)","body":`...)
	if action == "update" {
		b = append(b, `["`...)
		b = g.fill(b, hugeSize/2-200, hugeFiller)
		b = append(b, `","`...)
		b = g.fill(b, hugeSize/2-200, hugeFiller)
		b = append(b, `"]`...)
	} else {
		b = append(b, '"')
		b = g.fill(b, hugeSize-300, hugeFiller)
		b = append(b, '"')
	}
	b = append(b, `,"revision":`...)
	b = appendInt(b, int64(g.intn(200)+1))
	return append(b, '}')
}

var hugeFiller = []string{
	"第1条（適用）本規約は、ユーザーと当社との間の本サービスの利用に関わる一切の関係に適用されるものとします。",
	"Article 2 (Registration). An applicant completes registration when the Company approves the application. ",
	"当社は、利用登録の申請者に以下の事由があると判断した場合、利用登録の申請を承認しないことがあります。",
	"The user shall manage the user ID and password at the user's own responsibility. ",
	"<p>第3条（禁止事項）</p><ul><li>法令または公序良俗に違反する行為</li><li>犯罪行為に関連する行為</li></ul>",
}

// appendValue appends one JSON value for a column.
func (g *Generator) appendValue(b []byte, v valKind) []byte {
	switch v {
	case vStatus:
		return g.appendStr(b, g.pick(statusValues))
	case vCents:
		return appendInt(b, int64(g.intn(500)*100+g.intn(100)))
	case vBigID:
		return appendInt(b, bigID+2*int64(g.intn(1<<30)))
	case vID:
		return g.appendID(b, 30)
	case vName:
		return g.appendStr(b, g.pick(nameValues))
	case vEmail:
		return g.appendStr(b, g.pick(emailValues))
	case vTitle:
		return g.appendStr(b, g.pick(titleValues))
	case vBool:
		if g.chance(500) {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case vNullTime:
		if g.chance(400) {
			return append(b, "null"...)
		}
		fallthrough
	case vTime:
		b = append(b, '"')
		b = g.appendJST(b, 3)
		return append(b, '"')
	case vRole:
		return g.appendStr(b, g.pick(roleValues))
	case vCount:
		return appendInt(b, int64(g.intn(300)))
	case vInvoiceNo:
		b = append(b, `"INV-2024-`...)
		b = appendPadded(b, int64(g.intn(1_000_000)), 6)
		return append(b, '"')
	case vLocale:
		if g.chance(700) {
			return append(b, `"ja"`...)
		}
		return append(b, `"en"`...)
	case vJaName:
		return g.appendStr(b, g.pick(jaNames))
	case vJaAddress:
		return g.appendStr(b, g.pick(jaAddresses))
	case vJaNote:
		return g.appendStr(b, g.pick(jaMessages))
	}
	return append(b, "null"...)
}

// appendStr appends s, which needs no escaping, as a JSON string.
func (g *Generator) appendStr(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// kansaSDK appends an event in kansa's own shape, as the SDK emits it.
func (g *Generator) kansaSDK(b []byte) ([]byte, string) {
	action := g.pick(sdkActions)
	login := action == "user.login"
	failed := login && g.chance(120)

	b = append(b, `{"schema":"kansa.audit/v1","id":"`...)
	b, key := g.appendKeyUUIDv7(b)
	b = append(b, `","time":"`...)
	if g.chance(200) {
		b = g.appendJST(b, 6)
	} else {
		b = g.appendUTC(b, 6)
	}
	b = append(b, `","action":"`...)
	b = append(b, action...)
	b = append(b, '"')

	actorID := g.id(20)
	if !g.chance(50) { // otherwise a system change: no actor
		b = append(b, `,"actor":{"type":"User","id":"`...)
		b = appendInt(b, actorID)
		b = append(b, '"')
		if g.chance(400) {
			b = append(b, `,"name":"`...)
			b = append(b, g.pick(emailValues)...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}

	t := &auditTypes[g.intn(len(auditTypes))]
	b = append(b, `,"target":{"type":"`...)
	if login {
		b = append(b, `User","id":"`...)
		b = appendInt(b, actorID)
	} else {
		b = append(b, t.name...)
		b = append(b, `","id":"`...)
		b = g.appendID(b, 50)
	}
	b = append(b, `"},"source":"`...)
	b = append(b, g.pick(sdkSources)...)
	b = append(b, `","tenant":"`...)
	b = append(b, g.pick(sdkTenants)...)
	b = append(b, '"')
	if failed {
		b = append(b, `,"outcome":"failure"`...)
	}

	s := &g.streams[g.intn(len(g.streams))]
	s.n++
	b = append(b, `,"seq":{"stream":"`...)
	b = append(b, s.id[:]...)
	b = append(b, `","n":`...)
	b = appendInt(b, s.n)
	b = append(b, '}')

	switch action {
	case "create", "update", "delete":
		a := action
		if a == "delete" {
			a = "destroy"
		}
		b = append(b, `,"changes":`...)
		b = g.changes(b, t.cols, a, 0, false)
	}

	b = append(b, `,"context":{"ip":"`...)
	b = g.appendIP(b)
	b = append(b, `","request_id":"`...)
	b = g.appendRequestID(b)
	b = append(b, `","user_agent":"`...)
	b = append(b, g.pick(userAgents)...)
	b = append(b, `"},"meta":{"sdk":"kansa-ruby/0.3.1"`...)
	if failed {
		b = append(b, `,"error":"invalid password"`...)
	}
	b, rest := g.fillMembers(b, g.budget(b, 2), sdkMetaMembers)
	if rest > 0 {
		b = append(b, `,"note":"`...)
		b = g.fill(b, rest-10, memoWords)
		b = append(b, '"')
	}
	return append(b, "}}"...), key
}

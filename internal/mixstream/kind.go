package mixstream

// Kind is the known classification of a generated line. The zero value is
// Lograge. Kinds for which Audit reports true are the lines a correct router
// archives; every other kind must pass through to the application log
// unchanged.
type Kind int

const (
	// Lograge is a Rails lograge request line as JSON. It has an "action"
	// key but is not audit.
	Lograge Kind = iota
	// ActiveRecordSQL is a JSON log line carrying an ActiveRecord SQL
	// statement in "message", sometimes with ANSI colour escapes.
	ActiveRecordSQL
	// Analytics is a JSON line labelled "analytics" with a nested "props"
	// object.
	Analytics
	// PlainText is a non-JSON line: Ruby Logger output, Puma banners, stack
	// frames.
	PlainText
	// MalformedJSON looks like JSON but is not: a truncated object (some of
	// them truncated audit lines), trailing garbage, single quotes, a Ruby
	// hash, a trailing comma, NaN, a raw control character.
	MalformedJSON
	// RecordNotObject is valid JSON whose "record" key is a string, number,
	// array, boolean or null. Not audit.
	RecordNotObject
	// AuditLoggable is the AuditLoggable shape from DESIGN.md: "timestamp"
	// plus a "record" object whose "changes" is a JSON string or an object.
	AuditLoggable
	// AuditLoggableNullUser is AuditLoggable with "user":null (a system
	// change); about half of them also have "remote_address":null.
	AuditLoggableNullUser
	// AuditJapanese is AuditLoggable whose changes hold Japanese text.
	AuditJapanese
	// AuditHugeChanges is AuditLoggable whose changes are about 100 KB.
	AuditHugeChanges
	// KansaSDK is kansa's own event shape ("schema":"kansa.audit/v1").
	KansaSDK
	// JapaneseText is an application log line, JSON or plain, with Japanese
	// text. Not audit.
	JapaneseText

	numKinds
)

var kindNames = [numKinds]string{
	Lograge:               "Lograge",
	ActiveRecordSQL:       "ActiveRecordSQL",
	Analytics:             "Analytics",
	PlainText:             "PlainText",
	MalformedJSON:         "MalformedJSON",
	RecordNotObject:       "RecordNotObject",
	AuditLoggable:         "AuditLoggable",
	AuditLoggableNullUser: "AuditLoggableNullUser",
	AuditJapanese:         "AuditJapanese",
	AuditHugeChanges:      "AuditHugeChanges",
	KansaSDK:              "KansaSDK",
	JapaneseText:          "JapaneseText",
}

// String returns the constant's name, or "Kind(N)" for a value out of range.
func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return "Kind(" + itoa(int(k)) + ")"
}

// Audit reports whether lines of this kind are audit events: the
// AuditLoggable kinds, AuditJapanese, AuditHugeChanges and KansaSDK.
func (k Kind) Audit() bool {
	switch k {
	case AuditLoggable, AuditLoggableNullUser, AuditJapanese, AuditHugeChanges, KansaSDK:
		return true
	}
	return false
}

func (k Kind) valid() bool { return k >= 0 && k < numKinds }

func itoa(n int) string {
	var b [20]byte
	return string(appendInt(b[:0], int64(n)))
}

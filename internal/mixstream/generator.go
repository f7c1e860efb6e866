package mixstream

import (
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAuditRatio  = 0.30
	DefaultMeanLineLen = 420

	// hugeEvery is the expected spacing of AuditHugeChanges lines when
	// Config.Huge is set: about one line in hugeEvery.
	hugeEvery = 5000
	// hugeSize is the approximate length of an AuditHugeChanges line.
	hugeSize = 100 << 10
)

// Config chooses what a Generator produces. The zero value is a valid
// configuration: seed 0, 30% audit lines, a mean of 420 bytes per line, no
// huge lines.
type Config struct {
	// Seed selects the stream. Two generators with equal Configs produce
	// byte-identical output, on any platform and Go version (the generator
	// uses math/rand/v2's PCG, whose output is specified).
	Seed int64

	// AuditRatio is the fraction of lines (counted in lines, not bytes)
	// that are audit lines. 0 means DefaultAuditRatio; a negative value
	// means none; values above 1 mean 1. Ignored when Kinds is set.
	AuditRatio float64

	// MeanLineLen is the mean length in bytes of a line, without its '\n',
	// that the generator steers towards by padding realistic fields (query
	// parameters, user agents, SQL column lists, extra changed columns).
	// 0 means DefaultMeanLineLen. Every kind has a natural minimum length
	// (about 40 to 300 bytes), so a mean below about 250 is not reached;
	// the generator then emits lines at their natural length.
	MeanLineLen int

	// Huge adds AuditHugeChanges lines (about 100 KB each) at a rate of
	// about one line in 5,000. Off by default so that per-line benchmark
	// numbers are not dominated by a few huge lines; turn it on in
	// correctness tests. The huge lines count towards AuditRatio and
	// MeanLineLen: the lines after one are kept shorter until the mean is
	// back on track. Ignored when Kinds is set.
	Huge bool

	// Kinds, if non-empty, restricts output to these kinds, emitted
	// round-robin in the order given (a kind listed twice comes twice as
	// often). AuditRatio and Huge are then ignored; AuditHugeChanges is
	// emitted whenever its turn comes. Values out of range are dropped;
	// if none remain, the default mix is used.
	Kinds []Kind
}

// Generator produces a deterministic mixed stream of application log lines
// and audit lines. It is not safe for concurrent use; use one Generator per
// goroutine.
type Generator struct {
	rng rand.PCG

	auditThreshold uint64 // a line is audit when a uniform uint64 is below this
	hugeThreshold  uint64 // a line is huge when a uniform uint64 is below this
	mean           int
	kinds          []Kind
	next           int // round-robin position in kinds

	buf     []byte // the current line; Line.Text aliases it
	scratch []byte // changes built before being quoted as a JSON string
	out     []byte // WriteLines output buffer
	target  int    // wanted length of the current line

	lines int64 // lines emitted
	bytes int64 // bytes emitted, without '\n'

	keySeq  uint64 // makes audit keys unique
	keySalt uint64 // hides the sequence in keys

	clock    int64    // synthetic wall clock, Unix microseconds
	sec      int64    // second for which jst and utc hold the prefix
	jst, utc [19]byte // "2006-01-02T15:04:05" of sec in +09:00 and UTC

	streams [3]sdkStream
}

// sdkStream is one simulated SDK process: its seq stream id and the last n.
type sdkStream struct {
	id [36]byte
	n  int64
}

// Line is one generated line.
type Line struct {
	// Kind is the line's correct classification.
	Kind Kind
	// Text is the line without its trailing '\n'; it never contains '\n'.
	// It aliases the Generator's buffer and is valid only until the next
	// call to Next or WriteLines: copy it to keep it.
	Text []byte
	// Key is, for an audit line, a string that appears in the line and must
	// appear in the mapped event exactly once: the AuditLoggable
	// request_uuid or the KansaSDK id. Keys are unique within a Generator.
	// Empty for application lines.
	Key string
}

// New returns a Generator for cfg. Zero fields take their defaults as
// documented on Config.
func New(cfg Config) *Generator {
	g := &Generator{
		mean: cfg.MeanLineLen,
		buf:  make([]byte, 0, 4096),
	}
	if g.mean <= 0 {
		g.mean = DefaultMeanLineLen
	}
	g.rng.Seed(uint64(cfg.Seed), 0x6b616e7361) // "kansa"

	for _, k := range cfg.Kinds {
		if k.valid() {
			g.kinds = append(g.kinds, k)
		}
	}

	ratio := cfg.AuditRatio
	switch {
	case ratio == 0:
		ratio = DefaultAuditRatio
	case ratio < 0:
		ratio = 0
	case ratio > 1:
		ratio = 1
	}
	huge := 0.0
	if cfg.Huge {
		huge = min(1.0/hugeEvery, ratio)
	}
	// Huge lines are drawn first; the rest of the audit share is drawn
	// from what remains, so the overall audit fraction stays ratio.
	g.hugeThreshold = probThreshold(huge)
	if huge < 1 {
		g.auditThreshold = probThreshold((ratio - huge) / (1 - huge))
	}

	g.clock = time.Date(2024, 8, 6, 9, 0, 0, 0, time.UTC).UnixMicro() +
		int64(g.rng.Uint64()%3_600_000_000)
	g.sec = -1
	g.keySalt = g.rng.Uint64()
	for i := range g.streams {
		hi, lo := g.rng.Uint64(), g.rng.Uint64()
		hi = hi&^0xf000 | 0x7000
		lo = lo&^(0xf<<60) | 0xa<<60
		appendUUID(g.streams[i].id[:0], hi, lo)
	}
	return g
}

// probThreshold turns a probability into a threshold for a uniform uint64.
func probThreshold(p float64) uint64 {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return ^uint64(0)
	}
	return uint64(p * (1 << 63) * 2)
}

// Next generates the next line. The returned Text is valid until the next
// call to Next or WriteLines.
func (g *Generator) Next() Line {
	k := g.pickKind()
	g.clock += int64(g.intn(20_000)) // 0–20 ms between lines
	g.steer()
	g.buf = g.buf[:0]
	key := ""
	switch k {
	case Lograge:
		g.buf = g.lograge(g.buf)
	case ActiveRecordSQL:
		g.buf = g.sql(g.buf)
	case Analytics:
		g.buf = g.analytics(g.buf)
	case PlainText:
		g.buf = g.plainText(g.buf)
	case MalformedJSON:
		g.buf = g.malformed(g.buf)
	case RecordNotObject:
		g.buf = g.recordNotObject(g.buf)
	case AuditLoggable, AuditLoggableNullUser, AuditJapanese, AuditHugeChanges:
		g.buf, key = g.auditLoggable(g.buf, k)
	case KansaSDK:
		g.buf, key = g.kansaSDK(g.buf)
	case JapaneseText:
		g.buf = g.japaneseText(g.buf)
	}
	g.lines++
	g.bytes += int64(len(g.buf))
	return Line{Kind: k, Text: g.buf, Key: key}
}

// WriteLines writes the next n lines to w, each followed by '\n', and
// returns the number of bytes written. It buffers internally, so w need not
// be buffered. (It is not named WriteTo because it does not implement
// io.WriterTo.)
func (g *Generator) WriteLines(w io.Writer, n int) (int64, error) {
	const flushAt = 256 << 10
	var written int64
	out := g.out[:0]
	for range n {
		l := g.Next()
		out = append(out, l.Text...)
		out = append(out, '\n')
		if len(out) >= flushAt {
			m, err := w.Write(out)
			written += int64(m)
			if err != nil {
				return written, err
			}
			out = out[:0]
		}
	}
	if len(out) > 0 {
		m, err := w.Write(out)
		written += int64(m)
		if err != nil {
			return written, err
		}
	}
	if cap(out) <= 4*flushAt { // keep the buffer unless a huge line grew it
		g.out = out[:0]
	}
	return written, nil
}

// Kind weights within application lines and within audit lines, in parts
// per 1000. Lograge and SQL dominate application output, as in a Rails
// service; AuditLoggable dominates audit output.
var (
	appWeights = []kindWeight{
		{Lograge, 330},
		{ActiveRecordSQL, 300},
		{PlainText, 140},
		{Analytics, 100},
		{JapaneseText, 60},
		{MalformedJSON, 40},
		{RecordNotObject, 30},
	}
	auditWeights = []kindWeight{
		{AuditLoggable, 700},
		{KansaSDK, 150},
		{AuditLoggableNullUser, 80},
		{AuditJapanese, 70},
	}
)

type kindWeight struct {
	kind   Kind
	weight int
}

func (g *Generator) pickKind() Kind {
	if len(g.kinds) > 0 {
		k := g.kinds[g.next]
		g.next = (g.next + 1) % len(g.kinds)
		return k
	}
	r := g.rng.Uint64()
	if r < g.hugeThreshold {
		return AuditHugeChanges
	}
	if g.rng.Uint64() < g.auditThreshold {
		return weighted(auditWeights, g.intn(1000))
	}
	return weighted(appWeights, g.intn(1000))
}

func weighted(ws []kindWeight, r int) Kind {
	for _, w := range ws {
		if r < w.weight {
			return w.kind
		}
		r -= w.weight
	}
	return ws[0].kind
}

// steer sets g.target, the length the next line should have. Targets are
// spread uniformly over 0.5–1.5 of the mean and corrected by an eighth of
// the running shortfall, so the mean stays on track even though short
// kinds cannot be padded and huge lines overshoot.
func (g *Generator) steer() {
	m := int64(g.mean)
	short := m*g.lines - g.bytes
	t := m/2 + int64(g.intn(g.mean+1)) + short/8
	g.target = int(max(0, min(t, 8*m)))
}

// budget is how many padding bytes to add at this point of a line, given
// that about tail more bytes follow.
func (g *Generator) budget(b []byte, tail int) int {
	return g.target - len(b) - tail
}

// Random helpers. intn is Lemire's multiply-shift without rejection: the
// bias for n below 2^20 is far below anything a test could notice.

func (g *Generator) intn(n int) int {
	return int((g.rng.Uint64() >> 32) * uint64(n) >> 32)
}

// chance reports true with probability per/1000.
func (g *Generator) chance(per int) bool { return g.intn(1000) < per }

func (g *Generator) pick(s []string) string { return s[g.intn(len(s))] }

// fill appends fragments from frags until at least n bytes were added. It
// adds nothing when n <= 0.
func (g *Generator) fill(b []byte, n int, frags []string) []byte {
	end := len(b) + n
	for len(b) < end {
		b = append(b, g.pick(frags)...)
	}
	return b
}

// fillSep appends sep and a fragment until at least n bytes were added,
// walking frags in order from a random start so that repeats come only
// after every fragment was used.
func (g *Generator) fillSep(b []byte, n int, sep string, frags []string) []byte {
	end := len(b) + n
	for i := g.intn(len(frags)); len(b) < end; i++ {
		b = append(b, sep...)
		b = append(b, frags[i%len(frags)]...)
	}
	return b
}

// fillMembers appends distinct JSON object members from frags, starting at
// a random one, until at least n bytes were added or every member was
// used. It returns how many of the n bytes are still missing, so that the
// caller can pad one more member of its own; repeating a member would give
// the object duplicate keys.
func (g *Generator) fillMembers(b []byte, n int, frags []string) ([]byte, int) {
	end := len(b) + n
	off := g.intn(len(frags))
	for i := 0; i < len(frags) && len(b) < end; i++ {
		b = append(b, frags[(off+i)%len(frags)]...)
	}
	return b, end - len(b)
}

// Time formatting, without fmt and without allocation.

func (g *Generator) prefix() {
	s := g.clock / 1e6
	if s == g.sec {
		return
	}
	g.sec = s
	time.Unix(s, 0).UTC().AppendFormat(g.utc[:0], "2006-01-02T15:04:05")
	time.Unix(s+9*3600, 0).UTC().AppendFormat(g.jst[:0], "2006-01-02T15:04:05")
}

// appendJST appends the clock in +09:00 with digits fractional digits (0,
// 3 or 6), e.g. "2024-08-06T18:00:59.981+09:00".
func (g *Generator) appendJST(b []byte, digits int) []byte {
	g.prefix()
	b = append(b, g.jst[:]...)
	b = g.appendFrac(b, digits)
	return append(b, "+09:00"...)
}

// appendUTC appends the clock in UTC, e.g. "2024-08-06T09:00:59.981234Z".
func (g *Generator) appendUTC(b []byte, digits int) []byte {
	g.prefix()
	b = append(b, g.utc[:]...)
	b = g.appendFrac(b, digits)
	return append(b, 'Z')
}

func (g *Generator) appendFrac(b []byte, digits int) []byte {
	if digits == 0 {
		return b
	}
	us := g.clock % 1e6
	b = append(b, '.')
	if digits == 3 {
		return appendPadded(b, us/1000, 3)
	}
	return appendPadded(b, us, 6)
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	i := len(d)
	for v > 0 || i > len(d)-width {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[i:]...)
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendFixed appends v/100 with two decimals, e.g. 1234 → "12.34".
func appendFixed(b []byte, hundredths int) []byte {
	b = strconv.AppendInt(b, int64(hundredths/100), 10)
	b = append(b, '.')
	return appendPadded(b, int64(hundredths%100), 2)
}

const hexDigits = "0123456789abcdef"

// appendUUID appends hi and lo as a UUID in canonical 8-4-4-4-12 form.
func appendUUID(b []byte, hi, lo uint64) []byte {
	b = appendHex(b, hi>>32, 8)
	b = append(b, '-')
	b = appendHex(b, hi>>16, 4)
	b = append(b, '-')
	b = appendHex(b, hi, 4)
	b = append(b, '-')
	b = appendHex(b, lo>>48, 4)
	b = append(b, '-')
	return appendHex(b, lo, 12)
}

// appendHex appends the low n hex digits of v.
func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[v>>(4*uint(i))&0xf])
	}
	return b
}

// Identifiers. Keys and other ids are kept apart by the UUID variant
// nibble: keys use 8, every other generated UUID uses a, so no request id
// in the stream can equal an audit key.

// appendRequestID appends a random UUIDv4 that is never a key.
func (g *Generator) appendRequestID(b []byte) []byte {
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^0xf000 | 0x4000
	lo = lo&^(0xf<<60) | 0xa<<60
	return appendUUID(b, hi, lo)
}

// nextKeyBits returns the low 48 bits of a key: the next sequence number
// through a bijection on 48 bits (xor, odd multiplications, xorshift), so
// keys are unique yet look random.
func (g *Generator) nextKeyBits() uint64 {
	const mask = 1<<48 - 1
	g.keySeq++
	x := (g.keySeq ^ g.keySalt) & mask
	x = x * 0x9e3779b97f4b & mask
	x ^= x >> 23
	x = x * 0xd6e8feb86659 & mask
	return x ^ x>>29
}

// appendKeyUUIDv4 appends a UUIDv4 that embeds the next key sequence
// number, and returns it as the key too.
func (g *Generator) appendKeyUUIDv4(b []byte) ([]byte, string) {
	hi := g.rng.Uint64()&^0xf000 | 0x4000
	lo := 0x8<<60 | g.rng.Uint64()&(0xfff<<48) | g.nextKeyBits()
	start := len(b)
	b = appendUUID(b, hi, lo)
	return b, string(b[start:])
}

// appendKeyUUIDv7 is appendKeyUUIDv4 for a UUIDv7 whose time is the
// generator's clock.
func (g *Generator) appendKeyUUIDv7(b []byte) ([]byte, string) {
	ms := uint64(g.clock / 1000)
	hi := ms<<16 | 0x7000 | g.rng.Uint64()&0xfff
	lo := 0x8<<60 | g.rng.Uint64()&(0xfff<<48) | g.nextKeyBits()
	start := len(b)
	b = appendUUID(b, hi, lo)
	return b, string(b[start:])
}

// appendIP appends an IPv4 address from the documentation ranges, with an
// occasional IPv6 one.
func (g *Generator) appendIP(b []byte) []byte {
	r := g.intn(100)
	if r < 5 {
		b = append(b, "2001:db8::"...)
		return appendHex(b, uint64(g.intn(0xffff)+1), 4)
	}
	switch {
	case r < 50:
		b = append(b, "203.0.113."...)
	case r < 80:
		b = append(b, "198.51.100."...)
	default:
		b = append(b, "192.0.2."...)
	}
	return appendInt(b, int64(g.intn(254)+1))
}

// appendID appends a record id: usually small, sometimes an int64 above
// 2^53 that float64 cannot hold exactly.
func (g *Generator) appendID(b []byte, bigPer int) []byte {
	return appendInt(b, g.id(bigPer))
}

func (g *Generator) id(bigPer int) int64 {
	if g.chance(bigPer) {
		return bigID + 2*int64(g.intn(1<<30)) // odd: not representable in float64
	}
	if g.chance(800) {
		return int64(g.intn(5000) + 1)
	}
	return int64(g.intn(2_000_000) + 1)
}

// bigID is 2^53 + 1, the smallest positive integer float64 cannot hold.
const bigID = 1<<53 + 1

// appendJSONString appends s as a JSON string, quotes included.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			switch c {
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

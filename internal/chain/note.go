package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// Keys and signatures follow the C2SP signed-note format (the one of
// golang.org/x/mod/sumdb/note): a key is named, its id is the first four
// bytes of SHA-256(name || "\n" || 0x01 || public key), and a signature
// line is "— NAME base64(id || Ed25519 signature)". A verifier key is
// written NAME+IDHEX+base64(0x01 || public key); a signing key the same
// with "PRIVATE+KEY+" before it and the 32-byte seed for the public key.

const algEd25519 = 1

// Signer signs checkpoints with an Ed25519 key.
type Signer struct {
	name string
	id   uint32
	key  ed25519.PrivateKey
}

// Verifier checks signatures of one key.
type Verifier struct {
	Name string
	ID   uint32
	key  ed25519.PublicKey
}

func keyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func checkName(name string) error {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "+ \t\n") {
		return fmt.Errorf("key name %q: want a non-empty name without spaces or '+'", name)
	}
	return nil
}

// GenerateKey makes a new signing key named name and returns it in its text
// form (PRIVATE+KEY+…) with the verifier key's text.
func GenerateKey(name string) (skey, vkey string, err error) {
	if err := checkName(name); err != nil {
		return "", "", err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	id := keyID(name, pub)
	enc := func(b []byte) string { return base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, b...)) }
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, enc(priv.Seed())), fmt.Sprintf("%s+%08x+%s", name, id, enc(pub)), nil
}

// NewSigner reads a signing key's text form.
func NewSigner(skey string) (*Signer, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(skey), "PRIVATE+KEY+")
	if !ok {
		return nil, errors.New("signing key: does not start with PRIVATE+KEY+")
	}
	name, id, raw, err := splitKey(rest)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if len(raw) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %s: %d-byte seed, want %d", name, len(raw), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(raw)
	if keyID(name, priv.Public().(ed25519.PublicKey)) != id {
		return nil, fmt.Errorf("signing key %s: its id %08x does not match its key", name, id)
	}
	return &Signer{name: name, id: id, key: priv}, nil
}

// NewVerifier reads a verifier key's text form (NAME+IDHEX+BASE64).
func NewVerifier(vkey string) (*Verifier, error) {
	name, id, raw, err := splitKey(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verifier key %s: %d-byte key, want %d", name, len(raw), ed25519.PublicKeySize)
	}
	if keyID(name, raw) != id {
		return nil, fmt.Errorf("verifier key %s: its id %08x does not match its key", name, id)
	}
	return &Verifier{Name: name, ID: id, key: ed25519.PublicKey(raw)}, nil
}

func splitKey(s string) (name string, id uint32, raw []byte, err error) {
	// The base64 key may hold '+' itself: cut the name and id off the front.
	name, rest, ok1 := strings.Cut(s, "+")
	idHex, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return "", 0, nil, errors.New("want NAME+ID+KEY")
	}
	parts := []string{name, idHex, b64}
	if err := checkName(parts[0]); err != nil {
		return "", 0, nil, err
	}
	n, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return "", 0, nil, fmt.Errorf("key id %q: want 8 hex digits", parts[1])
	}
	b, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(b) == 0 || b[0] != algEd25519 {
		return "", 0, nil, errors.New("key: want base64 of an Ed25519 key (algorithm byte 1)")
	}
	return parts[0], uint32(n), b[1:], nil
}

// Name is the key's name; KeyID its id.
func (s *Signer) Name() string  { return s.name }
func (s *Signer) KeyID() uint32 { return s.id }

// Verifier returns the verifier key of s in its text form.
func (s *Signer) Verifier() string {
	pub := s.key.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", s.name, s.id, base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, pub...)))
}

// Text is the verifier key's text form (NAME+ID+BASE64).
func (v *Verifier) Text() string {
	return fmt.Sprintf("%s+%08x+%s", v.Name, v.ID, base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, v.key...)))
}

// String is the verifier key's name and id as a signature names it.
func (v *Verifier) String() string { return fmt.Sprintf("%s+%08x", v.Name, v.ID) }

// LoadSigner reads the signing key at path. When path does not exist and
// generate is set, a key named name is generated into it (mode 0600) first.
func LoadSigner(path, name string, generate bool) (*Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && generate {
		skey, _, err := GenerateKey(name)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := objstore.WriteFile(path, []byte(skey+"\n")); err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, err
		}
		data = []byte(skey)
	} else if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s, err := NewSigner(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Checkpoint is a signed statement of one log's size and root (C2SP
// tlog-checkpoint): the origin names the writer and log.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   merkle.Hash
	Time   time.Time
	// Set by OpenCheckpoint: the keys that signed it, of those given.
	SignedBy []*Verifier
	// Text is the signed note as read or made.
	Text []byte
}

// Origin is a log's name in its checkpoints: kansa/WRITER/LOG.
func Origin(writer, log string) string { return "kansa/" + writer + "/" + log }

// body is the checkpoint's signed text.
func (c *Checkpoint) body() []byte {
	b := fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	if !c.Time.IsZero() {
		b = fmt.Appendf(b, "time %s\n", c.Time.UTC().Format(time.RFC3339Nano))
	}
	return b
}

// Sign returns the checkpoint as a signed note.
func (s *Signer) Sign(c *Checkpoint) []byte {
	body := c.body()
	sig := ed25519.Sign(s.key, body)
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], s.id)
	note := append(body, '\n')
	return fmt.Appendf(note, "— %s %s\n", s.name, base64.StdEncoding.EncodeToString(append(id[:], sig...)))
}

// ErrUnknownKey: no signature of the note is by a given key.
var ErrUnknownKey = errors.New("not signed by a trusted key")

// OpenCheckpoint parses a signed checkpoint and checks its signatures
// against keys. It fails unless at least one signature is by one of keys
// and every signature by one of keys is valid; the error of an untrusted
// signer names the key in the note.
func OpenCheckpoint(note []byte, keys []*Verifier) (*Checkpoint, error) {
	body, sigs, ok := bytes.Cut(note, []byte("\n\n"))
	if !ok {
		return nil, errors.New("not a signed note: no blank line before the signatures")
	}
	body = append(body, '\n')
	lines := strings.Split(string(body[:len(body)-1]), "\n")
	if len(lines) < 3 {
		return nil, errors.New("checkpoint: want origin, size and root lines")
	}
	c := &Checkpoint{Origin: lines[0], Text: note}
	var err error
	if c.Size, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		return nil, fmt.Errorf("checkpoint size %q: %w", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != len(c.Root) {
		return nil, fmt.Errorf("checkpoint root %q: want base64 of %d bytes", lines[2], len(c.Root))
	}
	copy(c.Root[:], root)
	for _, l := range lines[3:] {
		if t, ok := strings.CutPrefix(l, "time "); ok {
			if c.Time, err = time.Parse(time.RFC3339Nano, t); err != nil {
				return nil, fmt.Errorf("checkpoint time %q: %w", t, err)
			}
		}
	}
	var unknown []string
	for _, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return nil, fmt.Errorf("signature line %q: want \"— NAME SIGNATURE\"", line)
		}
		name, b64, ok := strings.Cut(rest, " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(raw) < 4 {
			return nil, fmt.Errorf("signature line %q: bad signature", line)
		}
		id := binary.BigEndian.Uint32(raw)
		var v *Verifier
		for _, k := range keys {
			if k.Name == name && k.ID == id {
				v = k
			}
		}
		if v == nil {
			unknown = append(unknown, fmt.Sprintf("%s+%08x", name, id))
			continue
		}
		if !ed25519.Verify(v.key, body, raw[4:]) {
			return nil, fmt.Errorf("signature by %s does not verify: the checkpoint was changed after it was signed", v)
		}
		c.SignedBy = append(c.SignedBy, v)
	}
	if len(c.SignedBy) == 0 {
		return nil, fmt.Errorf("%w: signed by %s", ErrUnknownKey, strings.Join(unknown, ", "))
	}
	return c, nil
}

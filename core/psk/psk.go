// Package psk holds the pre-shared key that client and gateway use to derive
// knock sequences.
//
// The key is a distinct type rather than a []byte so that it cannot leak by
// accident: it has no == (the bytes live in an unexported slice), Equal is
// constant time, and every way fmt, slog or a %x verb could render it prints
// a redacted placeholder instead. The only ways out are Encode and Bytes,
// which callers use deliberately (to export a profile or to feed an HMAC).
package psk

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Key lengths in bytes. MaxLen leaves room for the 500-byte keys of the
// reference hyp client.
const (
	MinLen = 16
	MaxLen = 1024
	NewLen = 32
)

// maxFileSize bounds what ReadFile reads: the longest key encodes to
// 1639 characters, so anything much bigger is not a key file.
const maxFileSize = 64 << 10

// encoding is the text form of docs/protocol.md section 1. A function rather
// than a package variable so nothing can swap it out.
func encoding() *base32.Encoding { return base32.StdEncoding.WithPadding(base32.NoPadding) }

// Key is a pre-shared key of MinLen..MaxLen bytes. The zero Key is empty
// (IsZero) and is rejected by everything that needs a key.
type Key struct {
	b []byte // never mutated after construction, so copies of Key may share it
}

// Generate returns a new NewLen-byte key from the OS CSPRNG.
func Generate() (Key, error) {
	b := make([]byte, NewLen)
	if _, err := rand.Read(b); err != nil {
		return Key{}, fmt.Errorf("generating key: %w", err)
	}
	return Key{b: b}, nil
}

// New returns a key holding a copy of b.
func New(b []byte) (Key, error) {
	if err := checkLen(len(b)); err != nil {
		return Key{}, err
	}
	return Key{b: append([]byte(nil), b...)}, nil
}

func checkLen(n int) error {
	if n < MinLen || n > MaxLen {
		return fmt.Errorf("key is %d bytes, want %d..%d", n, MinLen, MaxLen)
	}
	return nil
}

// Parse decodes the text form leniently: RFC 4648 base32, padding optional,
// any letter case, spaces, tabs and line breaks ignored. Errors describe the
// problem by position and never quote the input.
func Parse(text string) (Key, error) {
	clean := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		clean = append(clean, c)
	}
	// Padding is optional, but only at the end.
	for len(clean) > 0 && clean[len(clean)-1] == '=' {
		clean = clean[:len(clean)-1]
	}
	if len(clean) == 0 {
		return Key{}, errors.New("key is empty")
	}
	for i, c := range clean {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return Key{}, fmt.Errorf("key text has a character that is not base32 at position %d", i+1)
		}
	}
	// Lengths of 1, 3 and 6 (mod 8) characters cannot end a base32 string.
	switch len(clean) % 8 {
	case 1, 3, 6:
		return Key{}, fmt.Errorf("key text has %d base32 characters, which is not a whole number of bytes", len(clean))
	}
	b := make([]byte, encoding().DecodedLen(len(clean)))
	n, err := encoding().Decode(b, clean)
	if err != nil {
		// Checked above, so this is unexpected; base32's error only
		// carries an offset, but do not wrap it in case that changes.
		return Key{}, errors.New("key text is not valid base32")
	}
	if err := checkLen(n); err != nil {
		return Key{}, err
	}
	return Key{b: b[:n]}, nil
}

// ReadFile loads a key file in the text form of Parse. Errors name the file
// and the reason, never key material.
func ReadFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("reading key file: %w", err) // *PathError names the file
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("reading key file %q: %w", path, err)
	}
	if len(text) > maxFileSize {
		return Key{}, fmt.Errorf("key file %q: larger than %d bytes, not a key", path, maxFileSize)
	}
	k, err := Parse(string(text))
	if err != nil {
		return Key{}, fmt.Errorf("key file %q: %w", path, err)
	}
	return k, nil
}

// Encode returns the canonical text form: upper-case base32 without padding.
func (k Key) Encode() string { return encoding().EncodeToString(k.b) }

// Bytes returns a copy of the raw key.
func (k Key) Bytes() []byte { return append([]byte(nil), k.b...) }

// Len returns the key length in bytes.
func (k Key) Len() int { return len(k.b) }

// IsZero reports whether k holds no key.
func (k Key) IsZero() bool { return len(k.b) == 0 }

// Equal compares in constant time (for keys of equal length).
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k.b, o.b) == 1 }

// ID returns a short public fingerprint for logs and status output. It is
// domain separated so it reveals nothing usable about knock sequences.
func (k Key) ID() string {
	h := sha256.New()
	h.Write([]byte("hyp/key-id"))
	h.Write(k.b)
	return hex.EncodeToString(h.Sum(nil)[:4])
}

// Fingerprint is a key's long public name. ID's 32 bits collide for about
// one pair in a hundred among 10,000 keys, which would let one key's spent
// sequence stand for another's; 128 bits do not collide in practice.
type Fingerprint [16]byte

// Fingerprint returns the key's long public name, domain separated from ID
// and from knock sequences so it reveals nothing usable about either.
func (k Key) Fingerprint() Fingerprint {
	h := sha256.New()
	h.Write([]byte("hyp/key-fingerprint/v1"))
	h.Write(k.b)
	var f Fingerprint
	copy(f[:], h.Sum(nil))
	return f
}

// CheckLen is the length of a key check in characters: 30 bits, so a
// mistyped key passes its check about once in a billion tries.
const CheckLen = 6

// ErrCheckMismatch says a key is not the one its check was made from.
var ErrCheckMismatch = errors.New("the key does not match its check (kc): a character was mistyped, added or lost on the way")

// Check is the key's short check, the kc parameter of a profile URI
// (docs/protocol.md section 6): the first CheckLen characters of the base32
// form of HMAC-SHA-256(K, "hyp/key-check/v1" || uint32be(len(K))). Keyed by
// the key and domain separated, it reveals nothing usable about the key or
// its sequences; it only tells a client that the key it was handed is the
// one the gateway wrote. The length is in the message because HMAC pads a
// short key with zero bytes: without it K and K||0x00 (a key with an "A"
// appended to its text) would have the same check.
func (k Key) Check() string {
	m := hmac.New(sha256.New, k.b)
	m.Write([]byte("hyp/key-check/v1"))
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(k.b))))
	return encoding().EncodeToString(m.Sum(nil))[:CheckLen]
}

// VerifyCheck reports whether kc is k's check, in any letter case. A kc
// that is not CheckLen base32 characters is an error of its own, so a
// damaged check is not blamed on the key.
func (k Key) VerifyCheck(kc string) error {
	if len(kc) != CheckLen {
		return fmt.Errorf("key check (kc) must be %d base32 characters, got %d", CheckLen, len(kc))
	}
	for i := 0; i < len(kc); i++ {
		c := kc[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return fmt.Errorf("key check (kc) has a character that is not base32 at position %d", i+1)
		}
	}
	want := k.Check()
	got := []byte(kc)
	for i := range got {
		if got[i] >= 'a' && got[i] <= 'z' {
			got[i] -= 'a' - 'A'
		}
	}
	if subtle.ConstantTimeCompare(got, []byte(want)) != 1 {
		return ErrCheckMismatch
	}
	return nil
}

// String is the fingerprint in hex, for state files and debugging.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// String is redacted.
func (k Key) String() string {
	if k.IsZero() {
		return "psk.Key(empty)"
	}
	return fmt.Sprintf("psk.Key(redacted, %d bytes)", len(k.b))
}

// GoString is redacted, for %#v.
func (k Key) GoString() string { return k.String() }

// Format makes every fmt verb (%x and %q included) print the redacted form.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue keeps slog from reaching into the struct.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

package psk_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/psk"
)

// A 32-byte key from the vectors: bytes 0x00..0x1f.
const vectorSecret = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestParseLenient(t *testing.T) {
	want := seq(32)
	padded := base32.StdEncoding.EncodeToString(seq(16)) // 16 bytes need padding
	inputs := map[string][]byte{
		vectorSecret:                  want,
		strings.ToLower(vectorSecret): want,
		" " + vectorSecret[:10] + "\n" + vectorSecret[10:] + "\r\n": want,
		vectorSecret[:20] + "\t " + vectorSecret[20:]:               want,
		padded:                         seq(16),
		strings.TrimRight(padded, "="): seq(16),
	}
	for in, wantBytes := range inputs {
		k, err := psk.Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if !bytes.Equal(k.Bytes(), wantBytes) {
			t.Errorf("Parse(%q) = %x, want %x", in, k.Bytes(), wantBytes)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"":     "empty",
		"  \n": "empty",
		vectorSecret[:10] + "1" + vectorSecret[11:]:  "not base32 at position 11",
		vectorSecret[:10] + "=" + vectorSecret[11:]:  "not base32 at position 11",
		vectorSecret + "AA":                          "not a whole number of bytes",
		base32.StdEncoding.EncodeToString(seq(15)):   "15 bytes",
		base32.StdEncoding.EncodeToString(seq(1025)): "1025 bytes",
	}
	for in, want := range cases {
		_, err := psk.Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.20q...): got %v, want error containing %q", in, err, want)
			continue
		}
		assertNoSecret(t, err.Error(), in)
	}
}

// assertNoSecret fails if msg contains any 8-character run of secret text.
func assertNoSecret(t *testing.T, msg, secret string) {
	t.Helper()
	s := strings.Join(strings.Fields(secret), "")
	for i := 0; i+8 <= len(s); i++ {
		if strings.Contains(strings.ToUpper(msg), strings.ToUpper(s[i:i+8])) {
			t.Fatalf("message %q contains secret text %q", msg, s[i:i+8])
		}
	}
}

// The reference hyp client writes 500 random bytes as base32 plus a newline.
func TestReadFileReferenceKey(t *testing.T) {
	raw := make([]byte, 500)
	rand.Read(raw)
	path := filepath.Join(t.TempDir(), "hyp.key")
	if err := os.WriteFile(path, []byte(base32.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := psk.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 500 || !bytes.Equal(k.Bytes(), raw) {
		t.Fatalf("loaded %d bytes, not the 500 written", k.Len())
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.key")
	if _, err := psk.ReadFile(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	secret := vectorSecret[:30] + "#" + vectorSecret[31:]
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte(secret+"\n"), 0o600)
	_, err := psk.ReadFile(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "position 31") {
		t.Fatalf("bad file: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error %q contains the input", err)
	}
	assertNoSecret(t, err.Error(), secret)

	short := filepath.Join(dir, "short.key")
	shortText := base32.StdEncoding.EncodeToString(seq(8))
	os.WriteFile(short, []byte(shortText), 0o600)
	if _, err := psk.ReadFile(short); err == nil || !strings.Contains(err.Error(), "8 bytes") {
		t.Errorf("short key: %v", err)
	} else {
		assertNoSecret(t, err.Error(), shortText)
	}

	huge := filepath.Join(dir, "huge.key")
	os.WriteFile(huge, bytes.Repeat([]byte("A"), 70000), 0o600)
	if _, err := psk.ReadFile(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge file: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	k, err := psk.Parse(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	raw := k.Bytes()
	forbidden := []string{
		vectorSecret,
		fmt.Sprintf("%x", raw), fmt.Sprintf("%X", raw),
		string(raw[1:]), fmt.Sprint(raw), fmt.Sprintf("%v", raw[:8]),
	}
	holder := struct {
		Name string
		Key  psk.Key
	}{"x", k}
	var outputs []string
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%x", "%X", "%q", "%d"} {
		outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k), fmt.Sprintf(verb, holder))
	}
	outputs = append(outputs, k.String(), fmt.Sprint(k), fmt.Sprintln(k))

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("key", "key", k, "ptr", &k, "holder", holder)
		l.Info("group", slog.Group("g", slog.Any("key", k)))
	}
	outputs = append(outputs, buf.String())
	j, _ := json.Marshal(holder)
	outputs = append(outputs, string(j))

	for _, out := range outputs {
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Fatalf("output %q leaks key material", out)
			}
		}
	}
	if got := fmt.Sprintf("%v", k); got != "psk.Key(redacted, 32 bytes)" {
		t.Errorf("%%v = %q", got)
	}
	if !strings.Contains(buf.String(), "redacted") {
		t.Errorf("slog output lacks the redacted form: %s", buf.String())
	}
}

func TestKeyBasics(t *testing.T) {
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != psk.NewLen || k.IsZero() {
		t.Fatalf("Generate: len %d", k.Len())
	}
	k2, _ := psk.Generate()
	if k.Equal(k2) {
		t.Fatal("two generated keys are equal")
	}
	back, err := psk.Parse(k.Encode())
	if err != nil || !back.Equal(k) {
		t.Fatalf("Encode/Parse round trip: %v", err)
	}
	if strings.ContainsAny(k.Encode(), "=abcdefghijklmnopqrstuvwxyz") {
		t.Errorf("Encode %q not upper-case unpadded", "…")
	}
	if !(psk.Key{}).IsZero() {
		t.Error("zero key not IsZero")
	}

	// New and Bytes copy.
	raw := seq(20)
	n, err := psk.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] = 0xff
	if n.Bytes()[0] != 0 {
		t.Error("New did not copy")
	}
	b := n.Bytes()
	b[1] = 0xff
	if n.Bytes()[1] != 1 {
		t.Error("Bytes did not copy")
	}
	for _, l := range []int{0, 15, 1025} {
		if _, err := psk.New(make([]byte, l)); err == nil {
			t.Errorf("New accepted %d bytes", l)
		}
	}

	// ID: stable, short, public, differs per key.
	v, _ := psk.Parse(vectorSecret)
	if id := v.ID(); len(id) != 8 || id != v.ID() || id == k.ID() {
		t.Errorf("ID %q", id)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		vectorSecret, strings.ToLower(vectorSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"77777777777777777777777774", "AAAA====", "", " \n", "1234", "GEZDGNBVGY3TQOJQ====GEZDGNBV",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := psk.Parse(s)
		if err != nil {
			if k.Len() != 0 {
				t.Fatal("error with a key")
			}
			if len(s) >= 8 {
				assertNoSecret(t, err.Error(), s)
			}
			return
		}
		if k.Len() < psk.MinLen || k.Len() > psk.MaxLen {
			t.Fatalf("accepted %d bytes", k.Len())
		}
		back, err := psk.Parse(k.Encode())
		if err != nil || !back.Equal(k) {
			t.Fatalf("re-parse of Encode: %v", err)
		}
	})
}

func TestFingerprint(t *testing.T) {
	a, _ := psk.New(bytes.Repeat([]byte{1}, 32))
	b, _ := psk.New(bytes.Repeat([]byte{2}, 32))
	a2, _ := psk.New(bytes.Repeat([]byte{1}, 32))
	if a.Fingerprint() != a2.Fingerprint() {
		t.Fatal("fingerprint not deterministic")
	}
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("two keys share a fingerprint")
	}
	// Domain separated from ID: the short ID is not a prefix of the long one.
	if strings.HasPrefix(a.Fingerprint().String(), a.ID()) {
		t.Fatal("fingerprint extends ID: not domain separated")
	}
	if got := len(a.Fingerprint().String()); got != 32 {
		t.Fatalf("fingerprint text is %d characters, want 32", got)
	}
}

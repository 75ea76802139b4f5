package config

import (
	"crypto/rand"
	"encoding/base32"
	"github.com/hideyourports/hyp/daemon/protected"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

var (
	ssh = protected.Service{Proto: "tcp", Port: 22}
	wg  = protected.Service{Proto: "udp", Port: 51820}
)

func daemonDefaults() Config {
	c := validConfig()
	c.Services = []protected.Service{ssh, wg}
	c.Open = 2 * time.Minute
	c.Uses = 2
	c.Public = []protected.Service{{Proto: "tcp", Port: 80}}
	return c
}

// referenceKey is a key file as the reference hyp writes one: 500 random
// bytes in base32 and a newline.
func referenceKey(t *testing.T) (psk.Key, string) {
	t.Helper()
	b := make([]byte, 500)
	rand.Read(b)
	k, err := psk.New(b)
	if err != nil {
		t.Fatal(err)
	}
	return k, base32.StdEncoding.EncodeToString(b) + "\n"
}

func newSecret(t *testing.T) psk.Key {
	t.Helper()
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func names(keys []Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Name)
	}
	return out
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	ref, refText := referenceKey(t)
	writeFile(t, dir, "alice", refText, 0o600)
	carol := newSecret(t)
	writeFile(t, dir, "carol.toml", `# carol's laptop
secret = "`+strings.ToLower(carol.Encode())+`"
scheme = "v2"
length = 6
step = 60
low = 2000
high = 3000
services = ["tcp/22", "tcp/443"]
open = "10m"
uses = 4
`, 0o600)
	dave := newSecret(t)
	writeFile(t, dir, "dave.toml", "secret = \""+dave.Encode()+"\"\nscheme = \"hyp\"\n", 0o400)
	// Not key files: hidden, editor leftovers, a directory.
	for _, name := range []string{".hidden", "alice~", ".alice.swp", "bob.swp", "#bob#", "alice.dpkg-old", ".bob.tmp-123"} {
		writeFile(t, dir, name, "not a key", 0o600)
	}
	os.Mkdir(filepath.Join(dir, "sub.key"), 0o700)
	// Problems, each for one file only.
	eve := writeFile(t, dir, "eve.key", newSecret(t).Encode(), 0o644)
	frank := writeFile(t, dir, "frank.key", "this is not base32!", 0o600)
	dup := writeFile(t, dir, "alice.key", newSecret(t).Encode(), 0o600)
	same := writeFile(t, dir, "zed.key", carol.Encode(), 0o600)

	keys, problems := LoadKeys(dir, daemonDefaults())
	if got := names(keys); !slices.Equal(got, []string{"alice", "carol", "dave"}) {
		t.Fatalf("loaded %v", got)
	}
	alice, carolK, daveK := keys[0], keys[1], keys[2]
	if !alice.Secret.Equal(ref) || alice.Path != filepath.Join(dir, "alice") {
		t.Errorf("alice: %v at %s", alice.Secret, alice.Path)
	}
	if alice.Params != sequence.Defaults() || !slices.Equal(alice.Services, []protected.Service{ssh, wg}) || alice.Open != 2*time.Minute || alice.Uses != 2 {
		t.Errorf("alice does not have the daemon's defaults: %+v", alice)
	}
	if !carolK.Secret.Equal(carol) {
		t.Error("carol's secret")
	}
	wantParams := sequence.Params{Scheme: sequence.V2, Length: 6, Step: 60, Low: 2000, High: 3000}
	if carolK.Params != wantParams || !slices.Equal(carolK.Services, []protected.Service{ssh, {Proto: "tcp", Port: 443}}) || carolK.Open != 10*time.Minute || carolK.Uses != 4 {
		t.Errorf("carol's settings: %+v", carolK)
	}
	if daveK.Params != sequence.HypDefaults() || daveK.Uses != 2 {
		t.Errorf("dave: %+v", daveK)
	}

	wantProblems := []string{
		eve + ": mode 0644 lets group or others read it; refused (chmod 600 " + eve + ")",
		frank + ": key text has a character that is not base32",
		dup + `: key name "alice" is already taken by ` + filepath.Join(dir, "alice"),
		same + ": holds the same secret as " + filepath.Join(dir, "carol.toml"),
	}
	if len(problems) != len(wantProblems) {
		t.Errorf("problems: %v", problems)
	}
	for _, w := range wantProblems {
		if !slices.ContainsFunc(problems, func(e error) bool { return strings.Contains(e.Error(), w) }) {
			t.Errorf("no problem %q in %v", w, problems)
		}
	}
	for _, p := range problems {
		for _, k := range keys {
			assertNoSecret(t, p.Error(), k.Secret)
		}
	}
}

// assertNoSecret fails if msg holds the key's text form or a chunk of it.
func assertNoSecret(t *testing.T, msg string, k psk.Key) {
	t.Helper()
	enc := k.Encode()
	for i := 0; i+8 <= len(enc); i += 8 {
		if strings.Contains(strings.ToUpper(msg), enc[i:i+8]) {
			t.Fatalf("error shows key material: %s", msg)
		}
	}
}

func TestLoadKeysMissingDir(t *testing.T) {
	keys, problems := LoadKeys(filepath.Join(t.TempDir(), "nope"), daemonDefaults())
	if len(keys) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "nope") {
		t.Errorf("%v %v", keys, problems)
	}
}

func TestKeyFileErrors(t *testing.T) {
	secret := newSecret(t)
	s := secret.Encode()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"unknown", "secret = \"" + s + "\"\nlenght = 5\n", `:2: unknown key "lenght"`},
		{"missing", "scheme = \"v2\"\n", ": secret: missing"},
		{"secret type", "secret = 5\n", ":1: secret: must be a base32 string"},
		{"short secret", "secret = \"AAAA\"\n", ":1: secret: key is 2 bytes, want 16..1024"},
		{"unquoted secret", "scheme = \"v2\"\nsecret = " + s + "\n", ":2: not valid TOML at column"},
		{"unterminated", "secret = \"" + s + "\n", ":1: not valid TOML"},
		{"scheme", "secret = \"" + s + "\"\nscheme = \"v9\"\n", `:2: scheme: unknown scheme "v9"`},
		{"hyp length", "secret = \"" + s + "\"\nscheme = \"hyp\"\nlength = 6\n", ":3: length: must be 4 for scheme hyp, got 6"},
		{"length", "secret = \"" + s + "\"\nlength = 1\n", ":2: length: must be 2..32, got 1"},
		{"length type", "secret = \"" + s + "\"\nlength = \"4\"\n", ":2: length: must be an integer"},
		{"low", "secret = \"" + s + "\"\nlow = 70000\n", ":2: low: must be a port 1..65535, got 70000"},
		{"service twice", "secret = \"" + s + "\"\nservices = [\"tcp/443\", \"TCP/443\"]\n", ":2: services: item 2: tcp/443 listed twice"},
		{"service syntax", "secret = \"" + s + "\"\nservices = [\"tcp/22\", \"ssh\"]\n", `:2: services: item 2: service "ssh": want PROTO/PORT`},
		{"service public", "secret = \"" + s + "\"\nservices = [\"tcp/80\"]\n", ":2: services: item 1: tcp/80 is public in hypd.toml"},
		{"services empty", "secret = \"" + s + "\"\nservices = []\n", ":2: services: empty"},
		{"open", "secret = \"" + s + "\"\nopen = \"forever\"\n", `:2: open: "forever" is not a duration`},
		{"open range", "secret = \"" + s + "\"\nopen = \"100ms\"\n", ":2: open: must be 1s..24h0m0s, got 100ms"},
		{"uses", "secret = \"" + s + "\"\nuses = 0\n", ":2: uses: must be 1..1024, got 0"},
		{"entropy", "secret = \"" + s + "\"\nlength = 2\nlow = 1024\nhigh = 1087\n",
			": length 2 over ports 1024..1087 carries 12.0 bits (length × log2(64 ports)), below the minimum of 48: raise length or widen low..high"},
		{"entropy just short", "secret = \"" + s + "\"\nlength = 3\nlow = 1\nhigh = 65535\n", ": length 3 over ports 1..65535 carries 47.9 bits"},
		{"one port", "secret = \"" + s + "\"\nlength = 32\nlow = 5000\nhigh = 5000\n", ": length 32 over ports 5000..5000 carries 0.0 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "k.toml", tc.content, 0o600)
			keys, problems := LoadKeys(dir, daemonDefaults())
			if len(keys) != 0 || len(problems) != 1 {
				t.Fatalf("keys %v, problems %v", names(keys), problems)
			}
			msg := problems[0].Error()
			if !strings.Contains(msg, "key file "+p+tc.want) {
				t.Errorf("error %q does not contain %q", msg, "key file "+p+tc.want)
			}
			assertNoSecret(t, msg, secret)
		})
	}
}

func TestEntropyAtTheMinimumLoads(t *testing.T) {
	dir := t.TempDir()
	// 4 ports over 4096 values: exactly 48 bits.
	writeFile(t, dir, "k.toml", "secret = \""+newSecret(t).Encode()+"\"\nlength = 4\nlow = 1024\nhigh = 5119\n", 0o600)
	keys, problems := LoadKeys(dir, daemonDefaults())
	if len(keys) != 1 || len(problems) != 0 {
		t.Fatalf("keys %v, problems %v", names(keys), problems)
	}
}

func TestValidKeyName(t *testing.T) {
	for _, ok := range []string{"alice", "bob.laptop", "ops@example.org", "a_b-c"} {
		if err := ValidKeyName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".alice", "a/b", "../x", `a\b`, "a b", "x~", strings.Repeat("a", 65)} {
		if err := ValidKeyName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWriteKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys") // created by WriteKeyFile
	alice := newSecret(t)
	p, err := WriteKeyFile(dir, "alice", Key{Secret: alice}, false)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "alice.key") {
		t.Errorf("path %s", p)
	}
	data, _ := os.ReadFile(p)
	if string(data) != alice.Encode()+"\n" {
		t.Errorf("plain file holds %q", data)
	}
	for _, q := range []string{p, dir} {
		fi, err := os.Stat(q)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o", q, fi.Mode().Perm())
		}
	}

	// Settings equal to the defaults still make a plain file (as
	// `hypd secret new` passes them).
	p, err = WriteKeyFile(dir, "plain", Key{Secret: newSecret(t), Params: sequence.Defaults(), Open: Default().Open, Uses: Default().Uses}, false)
	if err != nil || filepath.Ext(p) != ".key" {
		t.Errorf("defaults spelled out: %s, %v", p, err)
	}
	os.Remove(p)

	// Refuses to overwrite, under either extension.
	_, err = WriteKeyFile(dir, "alice", Key{Secret: newSecret(t)}, false)
	if err == nil || !strings.Contains(err.Error(), "alice.key exists; use --force") {
		t.Errorf("overwrite without force: %v", err)
	}
	_, err = WriteKeyFile(dir, "alice", Key{Secret: newSecret(t), Uses: 3}, false)
	if err == nil || !strings.Contains(err.Error(), "alice.key exists; use --force") {
		t.Errorf("overwrite as .toml without force: %v", err)
	}

	// With force, alice becomes a .toml key and the .key goes.
	full := Key{
		Secret:   newSecret(t),
		Params:   sequence.Params{Scheme: sequence.V2, Length: 5, Step: 45, Low: 3000, High: 4000},
		Services: []protected.Service{wg},
		Open:     90 * time.Second,
		Uses:     3,
	}
	p, err = WriteKeyFile(dir, "alice", full, true)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "alice.toml") {
		t.Errorf("path %s", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "alice.key")); !os.IsNotExist(err) {
		t.Errorf("alice.key still there: %v", err)
	}
	hyp := Key{Secret: newSecret(t), Params: sequence.HypDefaults()}
	if _, err := WriteKeyFile(dir, "bob", hyp, false); err != nil {
		t.Fatal(err)
	}

	keys, problems := LoadKeys(dir, daemonDefaults())
	if len(problems) != 0 || !slices.Equal(names(keys), []string{"alice", "bob"}) {
		t.Fatalf("reloading: %v %v", names(keys), problems)
	}
	a := keys[0]
	if !a.Secret.Equal(full.Secret) || a.Params != full.Params || !slices.Equal(a.Services, full.Services) || a.Open != full.Open || a.Uses != full.Uses {
		t.Errorf("round trip: wrote %+v, read %+v", full, a)
	}
	if keys[1].Params != sequence.HypDefaults() {
		t.Errorf("bob: %+v", keys[1].Params)
	}

	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d files, want 2 (temporary files left?)", len(entries))
	}

	for _, tc := range []struct {
		name string
		k    Key
		want string
	}{
		{"a/evil", Key{Secret: alice}, "not allowed"},
		{".hidden", Key{Secret: alice}, "starts with a dot"},
		{"nosecret", Key{}, "no secret"},
		{"badparams", Key{Secret: alice, Params: sequence.Params{Scheme: sequence.Hyp, Length: 5, Step: 30}}, "requires length 4"},
		{"badopen", Key{Secret: alice, Open: time.Millisecond}, "open: must be"},
	} {
		if _, err := WriteKeyFile(dir, tc.name, tc.k, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		} else {
			assertNoSecret(t, err.Error(), alice)
		}
	}
}

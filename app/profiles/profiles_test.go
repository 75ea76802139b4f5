package profiles_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
)

const uri = "hyp://gw.example.com?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ&check=tcp/443"

func testProfile(t *testing.T, name string) profiles.Profile {
	t.Helper()
	cp, _, err := profile.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	p := profiles.FromURI(name, cp)
	p.KeepAlive = time.Minute
	p.Command = []string{"/usr/bin/wg-quick", "up", "office vpn"}
	p.AlwaysOn = true
	return p
}

func newKey(t *testing.T) psk.Key {
	t.Helper()
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertNoSecret greps every file under dir for the key in its text and raw
// forms.
func assertNoSecret(t *testing.T, dir string, k psk.Key) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		enc := k.Encode()
		for _, needle := range [][]byte{[]byte(enc), []byte(strings.ToLower(enc)), []byte(enc[:16]), k.Bytes()} {
			if bytes.Contains(b, needle) {
				t.Errorf("%s holds the secret", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg", "hyp")
	mem := profiles.NewMemory()
	s, err := profiles.Open(profiles.Options{Dir: dir, Secrets: mem})
	if err != nil {
		t.Fatal(err)
	}
	if all, err := s.List(); err != nil || len(all) != 0 {
		t.Fatalf("empty store: %v %v", all, err)
	}
	p := testProfile(t, "office")
	if err := s.Put(p, false); err != nil {
		t.Fatal(err)
	}
	q := testProfile(t, "home")
	q.Command, q.KeepAlive, q.AlwaysOn, q.CheckPort = nil, 0, false, 0
	q.Key = newKey(t)
	if err := s.Put(q, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("office")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Key.Equal(p.Key) || got.Host != p.Host || got.CheckPort != 443 || got.KeepAlive != time.Minute ||
		!got.AlwaysOn || strings.Join(got.Command, "|") != "/usr/bin/wg-quick|up|office vpn" || got.Gap != profiles.DefaultGap || got.Params != p.Params {
		t.Fatalf("read back %+v, want %+v", got, p)
	}
	all, err := s.List()
	if err != nil || len(all) != 2 || all[0].Name != "office" || all[1].Name != "home" || !all[0].Key.IsZero() {
		t.Fatalf("List = %v, %v (want office, home in order, without keys)", all, err)
	}
	st, err := os.Stat(s.Path())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v; want 0600", st.Mode(), err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", st.Mode())
	}
	assertNoSecret(t, dir, p.Key)
	assertNoSecret(t, dir, q.Key)

	// No silent overwrite.
	p2 := p
	p2.Key = newKey(t)
	if err := s.Put(p2, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Put over an existing profile: %v, want ErrExist", err)
	}
	if got, _ := s.Get("office"); !got.Key.Equal(p.Key) {
		t.Fatal("a refused Put changed the key")
	}
	if err := s.Put(p2, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("office"); !got.Key.Equal(p2.Key) {
		t.Fatal("replace did not update the key")
	}

	if _, err := s.Remove("office"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("office"); !errors.Is(err, profiles.ErrNotFound) {
		t.Fatalf("Get after Remove: %v", err)
	}
	if _, err := mem.Get("office"); !errors.Is(err, profiles.ErrNoSecret) {
		t.Fatalf("secret survived Remove: %v", err)
	}
	if mem.Len() != 1 {
		t.Fatalf("%d secrets left, want 1 (home)", mem.Len())
	}
	if _, found, err := s.Lookup("office"); found || err != nil {
		t.Fatalf("Lookup of a removed profile: %v %v", found, err)
	}
	if _, found, err := s.Lookup("home"); !found || err != nil {
		t.Fatalf("Lookup(home): %v %v", found, err)
	}
	if _, err := s.Remove("office"); !errors.Is(err, profiles.ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestCorruptFileIsReportedNotReplaced(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"syntax", "version = 1\n\n[[profile]]\nname = \"a\"\nhost = \n", "profiles.toml:5:"},
		{"unknown key", "[[profile]]\nname = \"a\"\nhost = \"h\"\nscheme = \"v2\"\ncolour = \"red\"\n", `unknown setting "profile.colour"`},
		{"bad scheme", "version = 1\n[[profile]]\nname = \"a\"\nhost = \"h\"\nscheme = \"v2\"\n[[profile]]\nname = \"b\"\nhost = \"h\"\nscheme = \"v9\"\n", `profiles.toml:6: profile "b": scheme`},
		{"duplicate", "[[profile]]\nname = \"a\"\nhost = \"h\"\nscheme = \"v2\"\n[[profile]]\nname = \"a\"\nhost = \"h\"\nscheme = \"v2\"\n", "appears twice"},
		{"bad keepalive", "[[profile]]\nname = \"a\"\nhost = \"h\"\nscheme = \"v2\"\nkeepalive = \"1s\"\n", "keepalive: must be at least"},
		{"relative secret file", "[[profile]]\nname = \"a\"\nhost = \"h\"\nscheme = \"v2\"\nsecret_file = \"k\"\n", "secret_file: must be an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, profiles.FileName)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, _ := profiles.Open(profiles.Options{Dir: dir, Secrets: profiles.NewMemory()})
			_, err := s.List()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("List: %v; want an error naming %s and %q", err, path, tc.want)
			}
			p := testProfile(t, "new")
			if err := s.Put(p, true); err == nil {
				t.Fatal("Put into a corrupt file succeeded")
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Fatalf("the corrupt file was changed to %q", b)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, name := range []string{"", "-x", "a b", "a/b", "hyp://x", strings.Repeat("a", 65), "é"} {
		if profiles.ValidateName(name) == nil {
			t.Errorf("ValidateName(%q) accepted", name)
		}
	}
	for _, name := range []string{"office", "gw.example.com", "a_b-c@d", "1"} {
		if err := profiles.ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q): %v", name, err)
		}
	}
	p := testProfile(t, "x")
	p.Command = []string{""}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "command") {
		t.Errorf("empty program: %v", err)
	}
	p = testProfile(t, "x")
	p.Gap = -time.Second
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "gap") {
		t.Errorf("negative gap: %v", err)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	mem := profiles.NewMemory()
	s, _ := profiles.Open(profiles.Options{Dir: filepath.Join(dir, "cfg"), Secrets: mem})
	p := testProfile(t, "headless")
	p.SecretFile = filepath.Join(dir, "headless.key")
	if err := s.Put(p, false); err != nil {
		t.Fatal(err)
	}
	if mem.Len() != 0 {
		t.Fatal("a secret-file profile wrote to the keyring")
	}
	st, err := os.Stat(p.SecretFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v; want 0600", st.Mode(), err)
	}
	got, err := s.Get("headless")
	if err != nil || !got.Key.Equal(p.Key) || got.SecretFile != p.SecretFile {
		t.Fatalf("Get: %+v %v", got, err)
	}
	assertNoSecret(t, filepath.Join(dir, "cfg"), p.Key)
	kept, err := s.Remove("headless")
	if err != nil || kept != p.SecretFile {
		t.Fatalf("Remove: %q %v", kept, err)
	}
	if _, err := os.Stat(p.SecretFile); err != nil {
		t.Fatalf("Remove deleted the user's key file: %v", err)
	}
}

// TestReferenceKeyFile reads a key file as the reference hyp client writes
// it: 500 random bytes, base32, with a newline.
func TestReferenceKeyFile(t *testing.T) {
	raw := bytes.Repeat([]byte{0xA5, 0x11, 0x3C, 0x7E, 0x90}, 100)
	k, err := psk.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(k.Encode()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := profiles.FileSecret{Path: path}.Get("")
	if err != nil || !got.Equal(k) {
		t.Fatalf("reading a reference key: %v", err)
	}
	if m, err := profiles.LooseMode(path); err != nil || m != 0o044 {
		t.Fatalf("LooseMode = %o, %v; want 044", m, err)
	}
	if _, err := (profiles.FileSecret{Path: path + ".missing"}).Get(""); !errors.Is(err, profiles.ErrNoSecret) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEncodeHasNoKey(t *testing.T) {
	p := testProfile(t, "office")
	b, err := profiles.Encode([]profiles.Profile{p})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(p.Key.Encode()[:16])) || bytes.Contains(b, []byte("secret =")) {
		t.Fatalf("encoded file holds the key:\n%s", b)
	}
	back, err := profiles.Decode("x", b)
	if err != nil || len(back) != 1 || back[0].Host != p.Host || back[0].KeepAlive != p.KeepAlive {
		t.Fatalf("round trip: %+v %v\n%s", back, err, b)
	}
}

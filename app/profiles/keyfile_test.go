package profiles_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/profiles"
)

// TestSecretFileGatewayTOML: a profile's secret file may be the gateway's own TOML key file
// (what `hypd secret new` writes): the store reads its secret, and saving the profile again
// leaves the file, with its other settings, as it is.
func TestSecretFileGatewayTOML(t *testing.T) {
	dir := t.TempDir()
	p := testProfile(t, "office")
	path := filepath.Join(dir, "office.toml")
	file := "# written by hypd secret new\nsecret = \"" + p.Key.Encode() + "\"\nservices = [\"tcp/8443\"]\nuses = 3\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := profiles.FileSecret{Path: path}.Get("")
	if err != nil || !got.Equal(p.Key) {
		t.Fatalf("reading a TOML key file: %v (key read %v)", err, got.Equal(p.Key))
	}

	s, err := profiles.Open(profiles.Options{Dir: filepath.Join(dir, "cfg"), Secrets: profiles.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	p.SecretFile = path
	if err := s.Put(p, false); err != nil {
		t.Fatal(err)
	}
	p.Host = "gw2.example.com"
	if err := s.Put(p, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != file {
		t.Fatalf("saving the profile rewrote the gateway's key file:\n%s", b)
	}
	full, err := s.Get("office")
	if err != nil || !full.Key.Equal(p.Key) {
		t.Fatalf("Get: %v", err)
	}

	// A bad TOML file says where, not what the secret is.
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("secret = \""+p.Key.Encode()+"\"\nsecrte = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = profiles.FileSecret{Path: bad}.Get("")
	if err == nil || !strings.Contains(err.Error(), bad+":2") || strings.Contains(err.Error(), p.Key.Encode()) {
		t.Fatalf("a misspelt setting: %v", err)
	}
}

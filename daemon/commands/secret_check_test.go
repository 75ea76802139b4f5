package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/daemon/config"
)

// hypd secret new writes the key's check (kc=) and a check= into every URI:
// from --services, else from the config's services; a client reads the URI
// back and a key with a character appended fails its check.
func TestSecretNewWritesKeyCheckAndCheckPort(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "secret", "new", "laptop", "--keys", filepath.Join(dir, "a"), "--host", "gw.example.net", "--services", "udp/51820,tcp/2222")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	uri := strings.TrimSpace(out)
	p, w, err := profile.Parse(uri)
	if err != nil || len(w) != 0 {
		t.Fatalf("the URI does not parse cleanly: %v %q", err, w)
	}
	if !strings.Contains(uri, "&kc="+p.Key.Check()) || p.CheckPort != 2222 {
		t.Fatalf("URI lacks kc= or check=tcp/2222 (check port %d)", p.CheckPort)
	}
	secret := p.Key.Encode()
	if _, _, err := profile.Parse(strings.Replace(uri, secret, secret+"A", 1)); err == nil || !strings.Contains(err.Error(), "the key does not match its check") {
		t.Fatalf("a key with a character appended: %v", err)
	}

	// No --services: the config's first TCP service.
	cfg := filepath.Join(dir, "hypd.toml")
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(cfg, []byte("keys_dir = \""+keys+"\"\nservices = [\"udp/51820\", \"tcp/22\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "secret", "new", "bob", "--config", cfg, "--host", "10.77.1.1")
	if code != 0 {
		t.Fatalf("with --config: exit %d: %s", code, errOut)
	}
	p, _, err = profile.Parse(strings.TrimSpace(out))
	if err != nil || p.CheckPort != 22 || !strings.Contains(out, "&kc=") {
		t.Fatalf("with --config: %v, check port %d", err, p.CheckPort)
	}
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ks, problems := config.LoadKeys(keys, c); len(ks) != 1 || len(problems) != 0 || !ks[0].Secret.Equal(p.Key) {
		t.Fatalf("the key did not go to the config's keys_dir: %v %v", ks, problems)
	}

	// Nothing to check: refused, naming the ways out, and nothing written.
	code, out, errOut = run(t, "secret", "new", "carol", "--keys", filepath.Join(dir, "c"), "--host", "10.77.1.1", "--services", "udp/51820")
	if code != 2 || out != "" || !strings.Contains(errOut, "no TCP service known for key carol") || !strings.Contains(errOut, "--no-check") {
		t.Fatalf("UDP only: exit %d, %q, %q", code, out, errOut)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "c")); len(entries) != 0 {
		t.Fatalf("a refused secret new wrote %d files", len(entries))
	}
	// ... unless the admin says there is nothing to probe: no check=, and still kc.
	code, out, errOut = run(t, "secret", "new", "carol", "--keys", filepath.Join(dir, "c"), "--host", "10.77.1.1", "--services", "udp/51820", "--no-check")
	if code != 0 || strings.Contains(out, "check=") || !strings.Contains(out, "&kc=") {
		t.Fatalf("UDP only with --no-check: exit %d, %q, %q", code, out, errOut)
	}
	if code, _, errOut = run(t, "secret", "new", "dave", "--keys", filepath.Join(dir, "c"), "--host", "10.77.1.1", "--check", "22", "--no-check"); code != 2 || !strings.Contains(errOut, "contradict") {
		t.Fatalf("--check with --no-check: exit %d, %q", code, errOut)
	}
}

// Without --host, secret new refuses, naming the flag, and writes nothing.
func TestSecretNewNeedsHost(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "secret", "new", "laptop", "--keys", dir, "--services", "tcp/22")
	if code != 2 || !strings.Contains(errOut, "--host") || out != "" {
		t.Fatalf("no --host: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("no --host wrote %d files", len(entries))
	}
}

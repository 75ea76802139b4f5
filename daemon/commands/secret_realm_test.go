package commands

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/server"
)

// New keys are v3: the URI carries scheme=v3 and the gateway's realm, and the key file names no
// realm of its own, so the same file serves every gateway it is copied to with that gateway's.
// --realm binds the key to a realm in its file; --scheme v2 and hyp remain, except at a gateway
// with a realm, which would refuse to load them.
func TestSecretNewRealm(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	cfgPath := filepath.Join(dir, "hypd.toml")
	if err := os.WriteFile(cfgPath, []byte("keys_dir = \""+keys+"\"\nservices = [\"tcp/22\"]\nscheme = \"v3\"\nrealm = \"zürich office\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "secret", "new", "laptop", "--config", cfgPath, "--host", "gw.example.net")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	uri := strings.TrimSpace(out)
	if !strings.Contains(uri, "&scheme=v3&realm=z%C3%BCrich+office") {
		t.Errorf("URI lacks &scheme=v3&realm=z%%C3%%BCrich+office")
	}
	p, _, err := profile.Parse(uri)
	if err != nil || p.Params != sequence.V3Defaults("zürich office") {
		t.Fatalf("URI params %+v, %v", p.Params, err)
	}
	data, err := os.ReadFile(filepath.Join(keys, "laptop.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `scheme = "v3"`) || strings.Contains(string(data), "realm") {
		t.Errorf("key file names a realm or no scheme v3:\n%s", strings.SplitN(string(data), "\n", 2)[1])
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if ks, problems := config.LoadKeys(keys, cfg); len(ks) != 1 || len(problems) != 0 || ks[0].Params != p.Params {
		t.Fatalf("the gateway loads %v (problems %v); want the URI's params", ks, problems)
	}

	// --realm is written into the key file and the URI.
	code, out, errOut = run(t, "secret", "new", "bob", "--config", cfgPath, "--host", "gw.example.net", "--realm", "東京-1")
	if code != 0 {
		t.Fatalf("--realm: exit %d: %s", code, errOut)
	}
	if p, _, err = profile.Parse(strings.TrimSpace(out)); err != nil || p.Params.Realm != "東京-1" {
		t.Fatalf("--realm: %+v %v", p.Params, err)
	}
	if data, _ = os.ReadFile(filepath.Join(keys, "bob.toml")); !strings.Contains(string(data), `realm = "東京-1"`) {
		t.Errorf("--realm not in the key file")
	}

	// v2 and hyp at a gateway with a realm: refused, nothing written.
	for _, sch := range []string{"v2", "hyp"} {
		code, out, errOut = run(t, "secret", "new", "old-"+sch, "--config", cfgPath, "--host", "gw.example.net", "--scheme", sch)
		if code != 2 || out != "" || !strings.Contains(errOut, `realm "zürich office"`) || !strings.Contains(errOut, "only v3") {
			t.Errorf("--scheme %s at a realm: exit %d, %q, %q", sch, code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(keys, "old-"+sch+".toml")); err == nil {
			t.Errorf("--scheme %s at a realm wrote a key file", sch)
		}
	}
	// Without a realm they still work, and v3 has the empty realm.
	code, out, errOut = run(t, "secret", "new", "ref", "--keys", filepath.Join(dir, "plain"), "--host", "gw.example.net", "--scheme", "v2", "--services", "tcp/22")
	if code != 0 || strings.Contains(out, "scheme=") {
		t.Errorf("--scheme v2 without a realm: exit %d, %q", code, errOut)
	}
	code, out, errOut = run(t, "secret", "new", "new", "--keys", filepath.Join(dir, "plain"), "--host", "gw.example.net", "--services", "tcp/22")
	if p, _, err = profile.Parse(strings.TrimSpace(out)); code != 0 || err != nil || p.Params != sequence.V3Defaults("") || strings.Contains(out, "realm=") {
		t.Errorf("v3 without a realm: exit %d, %q, %+v", code, errOut, p.Params)
	}
	if code, _, errOut = run(t, "secret", "new", "x", "--keys", filepath.Join(dir, "plain"), "--host", "gw.example.net", "--scheme", "v2", "--realm", "a"); code != 2 || !strings.Contains(errOut, "--realm: needs scheme v3 (the scheme is v2)") {
		t.Errorf("--realm with v2: exit %d, %q", code, errOut)
	}
}

// hypd check at a gateway with a realm shows the realm and each key's, and names a v2 key file
// it refuses, with exit 1; without it the check passes.
func TestCheckShowsTheRealm(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	cfgPath := filepath.Join(dir, "hypd.toml")
	if err := os.WriteFile(cfgPath, []byte("keys_dir = \""+keys+"\"\nservices = [\"tcp/22\"]\nscheme = \"v3\"\nrealm = \"office\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "secret", "new", "laptop", "--config", cfgPath, "--host", "gw.example.net"); code != 0 {
		t.Fatalf("secret new: %d %s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(keys, "old.toml"), []byte("secret = \"AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ\"\nscheme = \"v2\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "check", "--config", cfgPath, "--interface", "lo")
	if code != 1 || !strings.Contains(out, `laptop`) || !strings.Contains(out, `v3 realm "office"`) || !strings.Contains(errOut, "old.toml") || !strings.Contains(errOut, "loads only v3 keys") {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	os.Remove(filepath.Join(keys, "old.toml"))
	code, out, errOut = run(t, "check", "--config", cfgPath, "--interface", "lo")
	if code != 0 || !strings.Contains(out, `realm "office": only v3 keys load here`) {
		t.Fatalf("clean check: exit %d\n%s\n%s", code, out, errOut)
	}
}

// realmBackend serves the status of a gateway with a realm and one v3 key.
type realmBackend struct{}

func (realmBackend) Status() (control.Status, error) {
	realm := "zürich"
	return control.Status{Started: time.Now(), Realm: "office",
		Keys: []server.KeyInfo{{Name: "laptop", ID: "0a1b2c3d", Scheme: "v3", Realm: &realm, Services: []string{"tcp/22"}, Open: "1m0s"}}}, nil
}
func (realmBackend) Revoke(netip.Addr) (int, error) { return 0, nil }
func (realmBackend) Unprotect(string) error         { return nil }

// hypd status shows the gateway's realm and each v3 key's.
func TestStatusShowsTheRealm(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hypd.sock")
	s, err := control.Listen(sock, realmBackend{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, out, errOut := run(t, "status", "--socket", sock)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"office" (only v3 keys load`, `laptop  v3 realm "zürich"`} {
		if !strings.Contains(out, want) {
			t.Errorf("hypd status lacks %q:\n%s", want, out)
		}
	}
}

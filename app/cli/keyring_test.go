package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestSecretServiceProfileCommands runs profile add/show/update/remove against the
// real Secret Service and greps the config directory for the key.
func TestSecretServiceProfileCommands(t *testing.T) {
	needs.Env(t, "HYP_SECRET_SERVICE", "1", "a real Secret Service: run under dbus-run-session with gnome-keyring (.ci/test does)")
	kr := profiles.Keyring{Service: fmt.Sprintf("hyp-cli-test-%d", os.Getpid())}
	dir := filepath.Join(t.TempDir(), "hyp")
	env := &cli.Env{Profiles: func() (*profiles.Store, error) {
		return profiles.Open(profiles.Options{Dir: dir, Secrets: kr})
	}}
	t.Cleanup(func() { _ = kr.Delete("office") })
	if code, _, errOut := run(t, env, "profile", "add", "office", testURI); code != 0 {
		t.Fatalf("add: %d %q", code, errOut)
	}
	want, _ := psk.Parse(secret)
	if k, err := kr.Get("office"); err != nil || !k.Equal(want) {
		t.Fatalf("the keyring holds %v, %v", k, err)
	}
	code, out, _ := run(t, env, "profile", "show", "office")
	if code != 0 || !strings.Contains(out, "id "+want.ID()) {
		t.Fatalf("show: %d %q", code, out)
	}
	grepDir(t, dir, secret[:16])

	other, _ := psk.Generate()
	uri2 := "hyp://192.0.2.7?secret=" + other.Encode()
	if code, _, errOut := run(t, env, "profile", "add", "office", uri2, "--force"); code != 0 {
		t.Fatalf("update: %d %q", code, errOut)
	}
	if k, err := kr.Get("office"); err != nil || !k.Equal(other) {
		t.Fatalf("after update the keyring holds %v, %v", k, err)
	}
	grepDir(t, dir, other.Encode()[:16])

	if code, out, _ := run(t, env, "profile", "remove", "office"); code != 0 || !strings.Contains(out, "keyring") {
		t.Fatalf("remove: %d %q", code, out)
	}
	if _, err := kr.Get("office"); err == nil {
		t.Fatal("the keyring entry survived profile remove")
	}
}

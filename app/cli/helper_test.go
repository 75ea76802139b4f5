package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// TestHelperCommands: helper add copies a saved profile with its key into a
// root-only store, list shows it without the key, run keeps it alive until
// interrupted, remove deletes it.
func TestHelperCommands(t *testing.T) {
	needs.Root(t, "the helper store is root-only")
	// root's own profiles: not those of a user who ran the tests with sudo.
	t.Setenv("SUDO_USER", "")
	t.Setenv("PKEXEC_UID", "")
	env, _ := storeEnv(t, profiles.NewMemory())
	env.HelperDir = filepath.Join(t.TempDir(), "helper")
	noCheck := "hyp://192.0.2.7?secret=" + secret
	if code, _, errOut := run(t, env, "profile", "add", "office", noCheck, "--keepalive", "10s", "--always-on"); code != 0 {
		t.Fatalf("profile add: %d %q", code, errOut)
	}
	code, out, errOut := run(t, env, "helper", "add", "office")
	if code != 0 || !strings.Contains(out, "hyp helper restart") {
		t.Fatalf("helper add: %d %q %q", code, out, errOut)
	}
	path := filepath.Join(env.HelperDir, "office.toml")
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("helper file: %v %v", st, err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), secret) {
		t.Fatal("the helper's copy lacks the key it needs")
	}
	if code, _, errOut := run(t, env, "helper", "add", "office"); code == 0 || !strings.Contains(errOut, "--force") {
		t.Fatalf("second helper add: %d %q", code, errOut)
	}
	code, out, _ = run(t, env, "helper", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME ") || !strings.Contains(out, "KEEPALIVE") || !regexp.MustCompile(`office +192\.0\.2\.7 +\S+ +10s +-`).MatchString(out) {
		t.Fatalf("helper list: %d %q", code, out)
	}
	// Issue 21 item 7: --json on every listing, durations as "10s", [] for no command.
	code, out, _ = run(t, env, "helper", "list", "--json")
	if code != 0 || !strings.Contains(out, `"keepalive": "10s"`) || !strings.Contains(out, `"command": []`) || strings.Contains(out, secret) {
		t.Fatalf("helper list --json: %d %q", code, out)
	}

	// helper run in the foreground knocks at once and stops when
	// interrupted.
	var n fakeNet
	env.Listen = n.listen
	ctx, cancel := context.WithCancel(context.Background())
	var o, e strings.Builder
	done := make(chan int, 1)
	sock := filepath.Join(t.TempDir(), "helper.sock")
	go func() {
		done <- cli.Run(ctx, &cli.Env{Listen: env.Listen, HelperDir: env.HelperDir, HelperSocket: sock, Stdout: &o, Stderr: &e}, []string{"helper", "run"})
	}()
	waitfor.For(t, "helper run's first knock", 10*time.Second, func() bool { return n.count() > 0 })
	// While it runs, its channel tells the live state and takes a knock
	// request.
	var live string
	if !waitfor.Until(10*time.Second, func() bool {
		code, out, errOut := run(t, env, "helper", "live", "--socket", sock)
		live = fmt.Sprintf("%d %q %q", code, out, errOut)
		return code == 0 && strings.Contains(out, "office  192.0.2.7  up")
	}) {
		t.Fatalf("helper live: %s", live)
	}
	if code, out, errOut := run(t, env, "helper", "live", "--json", "--socket", sock); code != 0 || !strings.Contains(out, `"keepalive": "10s"`) || strings.Contains(out, "10000000000") || !strings.Contains(out, `"command": []`) {
		t.Fatalf("helper live --json: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := run(t, env, "helper", "connect", "--socket", sock, "office"); code != 0 || !strings.Contains(out, "connected: office is up; nothing sent") {
		t.Fatalf("helper connect: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, env, "helper", "connect", "--socket", sock, "nope"); code != 2 || !strings.Contains(errOut, "no such helper profile") {
		t.Fatalf("helper connect nope: %d %q", code, errOut)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || n.count() == 0 {
			t.Fatalf("helper run: exit %d, %d knocks", code, n.count())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("helper run did not stop")
	}

	if code, _, errOut := run(t, env, "helper", "live", "--socket", sock); code == 0 || !strings.Contains(errOut, "the helper service is not running") {
		t.Fatalf("helper live after the helper stopped: %d %q", code, errOut)
	}
	if code, _, _ := run(t, env, "helper", "remove", "office"); code != 0 {
		t.Fatal("helper remove failed")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("helper remove left the file")
	}
}

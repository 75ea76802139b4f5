package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// elevatedEnv is a profile store of nobody's (a directory nobody owns, in a
// tree nobody may enter) and a root-only helper store, as `sudo hyp helper
// add` meets them. add runs `hyp profile add ARGS...` as root, then gives
// the store to nobody.
func elevatedEnv(t *testing.T) (env *cli.Env, base string, add func(args ...string)) {
	t.Helper()
	needs.Root(t, "reads a store as nobody and writes the root-only helper store")
	base, err := os.MkdirTemp("", "hyp-elevated-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(base, "home", ".config", "hyp")
	env = &cli.Env{
		Profiles: func() (*profiles.Store, error) {
			return profiles.Open(profiles.Options{Dir: cfg, Secrets: profiles.NewMemory()})
		},
		HelperDir:    filepath.Join(base, "helper"),
		HelperSocket: filepath.Join(base, "no-helper.sock"),
	}
	add = func(args ...string) {
		t.Helper()
		t.Setenv("SUDO_USER", "")
		if code, _, errOut := run(t, env, append([]string{"profile", "add"}, args...)...); code != 0 {
			t.Fatalf("profile add %v: %d %s", args, code, errOut)
		}
		filepath.Walk(filepath.Join(base, "home"), func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 65534, 65534) })
	}
	return env, base, add
}

func writeKey(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// TestHelperAddUnderSudoReadsAsTheUser: under sudo, helper add reads the
// user's profiles and the secret_file they name with the user's rights. A
// profile whose secret_file is a root-only key (any key file on the machine
// could be knocked at a host of the user's choosing) is refused and nothing
// is stored; one whose key the user may read is copied.
func TestHelperAddUnderSudoReadsAsTheUser(t *testing.T) {
	env, base, add := elevatedEnv(t)
	rootKeys := filepath.Join(base, "rootkeys")
	if err := os.Mkdir(rootKeys, 0o700); err != nil {
		t.Fatal(err)
	}
	writeKey(t, filepath.Join(rootKeys, "gateway.key"), 0)
	if err := os.MkdirAll(filepath.Join(base, "home"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeKey(t, filepath.Join(base, "home", "own.key"), 65534)
	add("stolen", "--host", "192.0.2.7", "--secret-file", filepath.Join(rootKeys, "gateway.key"))
	add("own", "--host", "192.0.2.7", "--secret-file", filepath.Join(base, "home", "own.key"))

	t.Setenv("SUDO_USER", "nobody")
	t.Setenv("PKEXEC_UID", "")
	code, _, errOut := run(t, env, "helper", "add", "--yes", "stolen")
	if code == 0 || !strings.Contains(errOut, "permission denied") || !strings.Contains(errOut, "rights of nobody") {
		t.Fatalf("helper add of a profile whose secret_file only root can read, under sudo by nobody: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(base, "helper", "stolen.toml")); !os.IsNotExist(err) {
		t.Fatalf("the root-only key reached the helper store: %v", err)
	}
	code, out, errOut := run(t, env, "helper", "add", "--yes", "own")
	if code != 0 || !strings.Contains(out, "copied profile own") {
		t.Fatalf("helper add of nobody's own key under sudo: exit %d: %s %s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(base, "helper", "own.toml")); err != nil || !strings.Contains(string(b), secret) {
		t.Fatalf("the helper's copy of own: %v", err)
	}
}

// TestHelperAddShowsTheCommandRootRuns: the command root will run is
// printed; under sudo without a terminal it is stored only with --yes; under
// pkexec (no terminal, the polkit dialog shows the command line) it must be
// the one after "--", else helper add refuses, naming the fix.
func TestHelperAddShowsTheCommandRootRuns(t *testing.T) {
	env, base, add := elevatedEnv(t)
	add("office", "hyp://192.0.2.7?secret="+secret, "--", "/bin/sh", "-c", "id >/tmp/pwned")
	stored := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(base, "helper", name+".toml"))
		return string(b)
	}

	t.Run("sudo without a terminal", func(t *testing.T) {
		if tty, err := os.Open("/dev/tty"); err == nil {
			tty.Close()
			needs.Missing(t, "a test process without a controlling terminal (helper add would ask on it)")
		}
		t.Setenv("SUDO_USER", "nobody")
		t.Setenv("PKEXEC_UID", "")
		env.Stdin = strings.NewReader("hyp://192.0.2.7?secret=" + secret)
		code, _, errOut := run(t, env, "helper", "add", "office", "-")
		if code == 0 || !strings.Contains(errOut, "--yes") || !strings.Contains(errOut, `as root: /bin/sh -c "id >/tmp/pwned"`) {
			t.Fatalf("helper add under sudo without a terminal or --yes: exit %d: %s", code, errOut)
		}
		if stored("office") != "" {
			t.Fatal("stored without confirmation")
		}
	})

	t.Run("pkexec", func(t *testing.T) {
		t.Setenv("SUDO_USER", "")
		t.Setenv("PKEXEC_UID", "65534")
		env.Stdin = strings.NewReader("hyp://192.0.2.7?secret=" + secret)
		code, _, errOut := run(t, env, "helper", "add", "office", "-")
		if code == 0 || !strings.Contains(errOut, "polkit dialog did not show it") || !strings.Contains(errOut, "-- COMMAND") {
			t.Fatalf("helper add under pkexec with the command only in the user's file: exit %d: %s", code, errOut)
		}
		if stored("office") != "" {
			t.Fatal("stored a command polkit did not show")
		}
		env.Stdin = strings.NewReader("hyp://192.0.2.7?secret=" + secret)
		code, _, errOut = run(t, env, "helper", "add", "office", "-", "--", "/usr/bin/wg-quick", "up", "office")
		if code != 0 || !strings.Contains(errOut, "as root: /usr/bin/wg-quick up office") {
			t.Fatalf("helper add under pkexec with the command on its command line: exit %d: %s", code, errOut)
		}
		if s := stored("office"); !strings.Contains(s, `"/usr/bin/wg-quick"`) || strings.Contains(s, "pwned") {
			t.Fatalf("the helper's copy: %s", s)
		}
	})
}

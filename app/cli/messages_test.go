package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
)

// Issue 21 item 6: a 0644 key file is reported with its real mode, not the loose bits alone.
func TestLooseKeyFileWarningShowsTheWholeMode(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k.key")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, &cli.Env{LookupProfile: noProfiles}, "sequence", "10.77.1.1", "--secret", f)
	if code != 0 || !strings.Contains(errOut, "(mode 0644)") || strings.Contains(errOut, "0044") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// Issue 21 item 6: an error about a saved profile names it once.
func TestProfileErrorNamesTheProfileOnce(t *testing.T) {
	lookup := func(name string) (profile.Profile, bool, error) {
		return profile.Profile{}, false, errors.New(`secret of profile "office": no such secret in the keyring`)
	}
	code, _, errOut := run(t, &cli.Env{LookupProfile: lookup}, "sequence", "office")
	if code == 0 || strings.Count(errOut, `profile "office"`) != 1 {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// Issue 21 item 7: profile list --json, with durations as strings and [] for empty lists.
func TestProfileListJSON(t *testing.T) {
	env, _ := storeEnv(t, profiles.NewMemory())
	code, out, _ := run(t, env, "profile", "list", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty profile list --json: %d %q", code, out)
	}
	if code, _, errOut := run(t, env, "profile", "add", "office", "hyp://192.0.2.7?secret="+secret+"&check=tcp/22", "--keepalive", "45s"); code != 0 {
		t.Fatalf("profile add: %d %q", code, errOut)
	}
	code, out, _ = run(t, env, "profile", "list", "--json")
	for _, want := range []string{`"name": "office"`, `"keepalive": "45s"`, `"check": "tcp/22"`, `"command": []`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("profile list --json lacks %s: %d %q", want, code, out)
		}
	}
	if strings.Contains(out, secret) || strings.Contains(out, "45000000000") {
		t.Fatalf("profile list --json: %q", out)
	}
}

// Issue 21 item 4: TAB after hyp connect offers the saved profiles (hyp __complete profiles),
// the completion scripts ask for them, and help lists completion and man.
func TestCompleteProfilesAndHelp(t *testing.T) {
	env, _ := storeEnv(t, profiles.NewMemory())
	for _, n := range []string{"office", "home"} {
		if code, _, errOut := run(t, env, "profile", "add", n, "hyp://192.0.2.7?secret="+secret); code != 0 {
			t.Fatalf("profile add: %s", errOut)
		}
	}
	code, out, _ := run(t, env, "__complete", "profiles")
	if code != 0 || out != "home\noffice\n" && out != "office\nhome\n" {
		t.Fatalf("__complete profiles: exit %d, %q", code, out)
	}
	_, script, _ := run(t, env, "completion", "bash")
	if !strings.Contains(script, `"connect")`) || !strings.Contains(script, "hyp __complete profiles") {
		t.Fatal("the bash completion does not ask hyp for the profiles")
	}
	_, out, _ = run(t, env, "help")
	if !strings.Contains(out, "completion SHELL") || !strings.Contains(out, "  man ") {
		t.Fatalf("hyp help: %s", out)
	}
	if code, out, _ := run(t, env, "help", "completion"); code != 0 || !strings.Contains(out, "Usage: hyp completion SHELL") {
		t.Fatalf("hyp help completion: exit %d, %q", code, out)
	}
	if code, _, _ := run(t, env, "completion", "--help"); code != 0 {
		t.Fatalf("hyp completion --help: exit %d", code)
	}
}

package cli_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
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

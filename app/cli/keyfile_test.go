package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/profiles"
)

// --secret takes the gateway's TOML key file: knocking a host with it takes
// the file's knock settings (here the hyp scheme) as a URI would give them.
func TestSecretTOMLSettings(t *testing.T) {
	dir := t.TempDir()
	toml := filepath.Join(dir, "bob.toml")
	if err := os.WriteFile(toml, []byte("# written by hypd secret new\nsecret = \""+secret+"\"\nscheme = \"hyp\"\nservices = [\"udp/51820\", \"tcp/2222\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, want, errOut := run(t, &cli.Env{}, "sequence", "hyp://10.77.1.1?secret="+secret+"&scheme=hyp")
	if code != 0 {
		t.Fatalf("sequence of the URI: %d %s", code, errOut)
	}
	code, got, errOut := run(t, &cli.Env{LookupProfile: noProfiles}, "sequence", "10.77.1.1", "--secret", toml)
	if code != 0 || got != want {
		t.Fatalf("sequence --secret bob.toml: exit %d, %q (%s), want the hyp scheme's %q", code, got, errOut, want)
	}
	// The file's settings are the gateway's; --scheme still overrides them.
	code, v2, _ := run(t, &cli.Env{LookupProfile: noProfiles}, "sequence", "10.77.1.1", "--secret", toml, "--scheme", "v2")
	if code != 0 || v2 == want {
		t.Fatalf("--scheme v2 over the file's hyp: exit %d, %q", code, v2)
	}
	// A bad setting is named by file and line, without the secret.
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("secret = \""+secret+"\"\nlength = \"4\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, &cli.Env{LookupProfile: noProfiles}, "sequence", "10.77.1.1", "--secret", bad)
	if code != 2 || !strings.Contains(errOut, bad+":2: length: must be an integer") {
		t.Fatalf("a bad key file: exit %d, %q", code, errOut)
	}
}

// hyp profile add --host --secret bob.toml keeps the file's first TCP service
// as the profile's check port.
func TestProfileAddSecretTOML(t *testing.T) {
	env, _ := storeEnv(t, profiles.NewMemory())
	toml := filepath.Join(t.TempDir(), "bob.toml")
	if err := os.WriteFile(toml, []byte("secret = \""+secret+"\"\nservices = [\"udp/51820\", \"tcp/2222\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, env, "profile", "add", "bob", "--host", "10.77.1.1", "--secret", toml); code != 0 {
		t.Fatalf("profile add: %d %s", code, errOut)
	}
	code, out, _ := run(t, env, "profile", "show", "bob")
	if code != 0 || !strings.Contains(out, "check=tcp/2222") {
		t.Fatalf("profile show: %d %q, want check=tcp/2222", code, out)
	}
}

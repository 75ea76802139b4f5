package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/daemon/config"
)

// runWith runs hypd with its default config file at defaultConfig, as if that were
// /etc/hyp/hypd.toml.
func runWith(t *testing.T, defaultConfig string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{version: "test", defaultConfig: defaultConfig, stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code = program("test").Run(context.Background(), e, args, &out, &errb)
	return code, out.String(), errb.String()
}

// Item 1 of issue 21: check (and run, through the same load) read the default config file when
// it exists, with no --config; a missing file names the command that writes it.
func TestCheckReadsTheDefaultConfigFile(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "hypd.toml")
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := "interfaces = [\"lo\"]\nservices = [\"tcp/22\"]\nkeys_dir = \"" + keys + "\"\n"
	if err := os.WriteFile(def, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runWith(t, def, "check")
	if code != 0 || !strings.Contains(out, "interfaces [lo]") {
		t.Fatalf("check with the default config present: exit %d, %q, %q", code, out, errOut)
	}

	// No default file: the message says how to name an interface and how to get the file.
	code, _, errOut = runWith(t, filepath.Join(dir, "absent.toml"), "check")
	if code != 2 || !strings.Contains(errOut, "hypd init") || !strings.Contains(errOut, "--interface") {
		t.Fatalf("check without any config: exit %d, %q", code, errOut)
	}
	// --config naming a file that is not there: the command that writes it.
	missing := filepath.Join(dir, "nope", "hypd.toml")
	code, _, errOut = runWith(t, def, "check", "--config", missing)
	if code != 2 || !strings.Contains(errOut, "does not exist: hypd init --config "+missing) {
		t.Fatalf("check --config of a missing file: exit %d, %q", code, errOut)
	}
	code, _, errOut = runWith(t, def, "start", "--config", missing)
	if code != 2 || !strings.Contains(errOut, "hypd init --config "+missing) {
		t.Fatalf("start --config of a missing file: exit %d, %q", code, errOut)
	}
}

// hypd init writes the default config and the keys directory with their modes, and changes
// nothing that exists; what it writes is what check then reads.
func TestInitWritesConfigAndKeysDir(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "etc", "hypd.toml")
	code, out, errOut := runWith(t, def, "init")
	if code != 0 {
		t.Fatalf("init: exit %d, %q", code, errOut)
	}
	fi, err := os.Stat(def)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("config: %v, %v", fi, err)
	}
	c, err := config.Load(def)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeysDir != filepath.Join(dir, "etc", "keys") {
		t.Fatalf("keys_dir %s, want beside the config", c.KeysDir)
	}
	ki, err := os.Stat(c.KeysDir)
	if err != nil || !ki.IsDir() || ki.Mode().Perm() != 0o700 {
		t.Fatalf("keys dir: %v, %v", ki, err)
	}
	if !strings.Contains(out, "wrote the default config") || !strings.Contains(out, "hypd secret new") {
		t.Fatalf("init said %q", out)
	}
	// A second init keeps the admin's edits.
	edited := "interfaces = [\"lo\"]\nkeys_dir = \"" + c.KeysDir + "\"\n"
	os.WriteFile(def, []byte(edited), 0o644)
	if code, out, _ = runWith(t, def, "init"); code != 0 || !strings.Contains(out, "kept the existing config") {
		t.Fatalf("second init: exit %d, %q", code, out)
	}
	if b, _ := os.ReadFile(def); string(b) != edited {
		t.Fatal("init changed an existing config")
	}
	if code, out, errOut = runWith(t, def, "check"); code != 0 || !strings.Contains(out, "config ok") {
		t.Fatalf("check after init: exit %d, %q %q", code, out, errOut)
	}
}

// Item 6: a duration without quotes gets a hint, not only the TOML parser's words.
func TestUnquotedDurationHint(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "hypd.toml")
	os.WriteFile(def, []byte("interfaces = [\"lo\"]\nopen = 5m\n"), 0o644)
	code, _, errOut := runWith(t, def, "check")
	if code != 2 || !strings.Contains(errOut, `durations are quoted strings: write open = "5m"`) {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// Item 5: the default config says what is true about reloading.
func TestDefaultConfigSaysHowToReload(t *testing.T) {
	_, out, _ := run(t, "config", "default")
	if strings.Contains(out, "only at start") || !strings.Contains(out, "hypd reload") {
		t.Fatalf("config default head: %q", strings.SplitN(out, "\n\n", 2)[0])
	}
}

// Item 3: secret new refuses without --host and writes nothing; --check gives the URI a check=
// where the key's services have no TCP port.
func TestSecretNewHostAndCheck(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "absent.toml")
	code, out, errOut := runWith(t, def, "secret", "new", "dave", "--keys", dir, "--services", "tcp/22")
	if code != 2 || out != "" || !strings.Contains(errOut, "--host is missing") || strings.Contains(errOut, "localhost") {
		t.Fatalf("no --host: exit %d, %q, %q", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("secret new without --host wrote a key")
	}
	code, out, errOut = runWith(t, def, "secret", "new", "wg", "--keys", dir, "--host", "10.77.1.1", "--services", "udp/51820", "--check", "22")
	if code != 0 || !strings.Contains(out, "check=tcp/22") || strings.Contains(errOut, "warning") {
		t.Fatalf("--check: exit %d, %q, %q", code, out, errOut)
	}
	code, _, errOut = runWith(t, def, "secret", "new", "bad", "--keys", dir, "--host", "10.77.1.1", "--check", "70000")
	if code != 2 || !strings.Contains(errOut, "--check 70000") {
		t.Fatalf("--check 70000: exit %d, %q", code, errOut)
	}
}

// Item 4: hypd __complete keys lists the key files of the default config's keys directory; help
// lists completion and man.
func TestCompleteKeysAndHelpListsBuiltins(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "hypd.toml")
	if code, _, errOut := runWith(t, def, "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	keys := filepath.Join(dir, "keys")
	for _, n := range []string{"alice.key", "bob.toml", ".hidden.key", "notes.txt"} {
		os.WriteFile(filepath.Join(keys, n), nil, 0o600)
	}
	code, out, _ := runWith(t, def, "__complete", "keys")
	if code != 0 || out != "alice\nbob\n" {
		t.Fatalf("__complete keys: exit %d, %q", code, out)
	}
	code, out, _ = runWith(t, def, "__complete", "interfaces")
	if code != 0 || !strings.Contains(out, "lo\n") {
		t.Fatalf("__complete interfaces: exit %d, %q", code, out)
	}
	_, out, _ = run(t, "help")
	for _, want := range []string{"completion SHELL", "man ", "init", "reload", "service-status"} {
		if !strings.Contains(out, want) {
			t.Errorf("hypd help lacks %q", want)
		}
	}
	if code, out, _ := run(t, "completion", "--help"); code != 0 || !strings.Contains(out, "Usage: hypd completion SHELL") {
		t.Errorf("completion --help: exit %d, %q", code, out)
	}
}

// Item 1: secret new --config of a missing file names the command that writes it.
func TestSecretNewMissingConfigSaysInit(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "hypd.toml")
	code, out, errOut := run(t, "secret", "new", "x", "--config", missing, "--host", "10.77.1.1")
	if code != 2 || out != "" || !strings.Contains(errOut, "hypd init --config "+missing) {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
}

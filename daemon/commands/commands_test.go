package commands

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), "test", args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestSecretNewWritesKeyAndPrintsURI(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "secret", "new", "laptop", "--keys", dir, "--host", "gw.example.net", "--services", "tcp/22")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p, _, err := profile.Parse(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("printed URI does not parse: %v", err)
	}
	if p.Host != "gw.example.net" || p.Name != "laptop" || p.CheckPort != 22 {
		t.Fatalf("profile %v", p)
	}
	keys, problems := config.LoadKeys(dir, config.Default())
	if len(problems) != 0 || len(keys) != 1 {
		t.Fatalf("keys %v problems %v", keys, problems)
	}
	if !keys[0].Secret.Equal(p.Key) {
		t.Fatal("the URI's secret is not the key file's")
	}
	fi, err := os.Stat(keys[0].Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode().Perm(), err)
	}
	// The secret goes to stdout only; stderr (which may end in a log) never has it.
	if strings.Contains(errOut, p.Key.Encode()) {
		t.Fatal("secret on stderr")
	}

	// No overwrite without --force, and the old key stays.
	code, _, errOut = run(t, "secret", "new", "laptop", "--keys", dir, "--host", "gw.example.net", "--check", "22")
	if code != 2 || !strings.Contains(errOut, "--force") {
		t.Fatalf("second secret new: exit %d, %q; want 2 and a hint at --force", code, errOut)
	}
	keys2, _ := config.LoadKeys(dir, config.Default())
	if len(keys2) != 1 || !keys2[0].Secret.Equal(p.Key) {
		t.Fatal("existing key changed without --force")
	}
	code, out, _ = run(t, "secret", "new", "laptop", "--keys", dir, "--host", "gw.example.net", "--check", "22", "--force", "--scheme", "hyp", "--qr")
	if code != 0 || !strings.Contains(out, "█") || !strings.Contains(out, "scheme=hyp") {
		t.Fatalf("--force --qr: exit %d, output %q", code, out)
	}
}

func TestGenerateSecret(t *testing.T) {
	code, out, _ := run(t, "generate", "secret")
	if code != 0 {
		t.Fatal("exit", code)
	}
	k, err := psk.Parse(out)
	if err != nil || k.Len() != psk.NewLen {
		t.Fatalf("generated key: %v (%d bytes)", err, k.Len())
	}
}

func TestConfigDefaultAndFlagsOverride(t *testing.T) {
	code, out, _ := run(t, "config", "default")
	if code != 0 || !strings.Contains(out, "#") {
		t.Fatalf("config default: exit %d", code)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "hypd.toml")
	os.WriteFile(path, []byte(out), 0o600)

	cfg, err := parseGatewayFlags(t, "--config", path, "--interface", "eth0", "--interface", "eth1,wg0",
		"--services", "tcp/22,udp/51820", "--open", "45s", "--scheme", "hyp", "--skew", "2", "--stealth", "--public", "tcp/443")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Interfaces, " ") != "eth0 eth1 wg0" || len(cfg.Services) != 2 || cfg.Open != 45*time.Second ||
		cfg.Scheme != sequence.Hyp || cfg.Skew != 2 || !cfg.Stealth || len(cfg.Public) != 1 {
		t.Fatalf("flags not laid over the file: %+v", cfg)
	}
	// Flags not given keep the file's values.
	cfg, err = parseGatewayFlags(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if def := config.Default(); cfg.Open != def.Open || cfg.Skew != def.Skew {
		t.Fatalf("defaults lost: %+v", cfg)
	}
}

// parseGatewayFlags parses the flags of hypd run and loads the configuration they name.
func parseGatewayFlags(t *testing.T, args ...string) (config.Config, error) {
	t.Helper()
	var g gatewayFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return g.load()
}

func TestBadInputExitsTwoWithReason(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("open = \"soon\"\n"), 0o600)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"run", "--services", "tcp/99999"}, "--services"},
		{[]string{"run", "--open", "forever"}, "--open"},
		{[]string{"run", "--keys", dir}, "no interface"},
		{[]string{"check", "--config", bad}, bad},
		{[]string{"check", "--config", filepath.Join(dir, "missing.toml")}, "missing.toml"},
		{[]string{"secret", "new"}, "NAME"},
		{[]string{"secret", "new", "../evil", "--keys", dir}, "evil"},
		{[]string{"revoke-grant", "not-an-ip"}, "not-an-ip"},
		{[]string{"revoke-grant"}, "give the source ADDR"},
		{[]string{"run", "--bogus"}, "unknown flag --bogus (see 'hypd help run')"},
		{[]string{"run", "--knock-timeout", "5"}, `--knock-timeout "5": not a duration such as 5s`},
		{[]string{"run", "--skew", "x"}, "--skew \"x\": not a whole number"},
		{[]string{"secret", "new", "x", "--keys", dir, "--host", "bad host"}, `--host "bad host": character ' '`},
		{[]string{"secret", "new", "x", "--keys", dir, "--host", "10.0.0.1:22"}, "without a port"},
		{[]string{"secret", "new", "x", "--keys", dir, "--host", "gw?x=1#"}, `character '?' is not allowed`},
		{[]string{"secret", "new", "x", "--keys", dir, "--host", "[10.0.0.1]"}, "IPv6 address inside the brackets"},
		{[]string{"secret", "new", "x", "y", "--keys", dir}, "give one the agent's NAME"},
		{[]string{"secret", "frob"}, `unknown verb "frob"; want one of: secret new`},
		{[]string{"config", "default", "x"}, "takes no arguments"},
		{[]string{"unprotect", "tcp/0"}, "port must be"},
		{[]string{"completion", "tcsh"}, "unknown shell"},
		{[]string{"version", "x"}, "takes no arguments"},
		{[]string{"help", "frob"}, "unknown command"},
	}
	for _, c := range cases {
		code, out, errOut := run(t, c.args...)
		if c.args[0] == "run" && code == 2 {
			// hypd run that cannot start first hides what it knows of (nothing here) and says
			// so in one log line; the error itself is the one line after it.
			first, rest, _ := strings.Cut(errOut, "\n")
			if !strings.Contains(first, "KNOWS OF NOTHING TO PROTECT") {
				t.Errorf("hypd %s: no fail-closed line before the error: %q", strings.Join(c.args, " "), errOut)
			}
			errOut = rest
		}
		if code != 2 || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("hypd %s: exit %d, stderr %q; want 2 and one line naming %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
		if strings.Contains(out+errOut, planted) {
			t.Errorf("hypd %s printed the secret", strings.Join(c.args, " "))
		}
	}
	// A broken key file is reported by line and column, never with its content.
	code, out, errOut := run(t, "check", "--keys", secretDir(t), "--interface", "lo", "--services", "tcp/22")
	if code != 1 || !strings.Contains(errOut, "not valid TOML") || strings.Contains(out+errOut, planted) {
		t.Errorf("check of a broken key file: exit %d, %q %q", code, out, errOut)
	}
	// Bad input writes nothing: no key file appeared for the refused hosts.
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("refused commands left files behind: %v", entries)
	}
}

// planted is a secret in a broken key file: no error may show it.
const planted = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// secretDir is a keys directory with one broken .toml key file holding planted.
func secretDir(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.toml"), []byte("secret = \""+planted+"\"\nopen = [\n"), 0o600)
	return dir
}

func TestCheckReportsBadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k, _ := psk.Generate()
	os.WriteFile(filepath.Join(dir, "good.key"), []byte(k.Encode()+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "open.key"), []byte(k.Encode()+"\n"), 0o644)
	code, out, errOut := run(t, "check", "--keys", dir, "--interface", "lo", "--services", "tcp/22")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	if !strings.Contains(out, "good") || !strings.Contains(errOut, "open.key") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	if strings.Contains(out+errOut, k.Encode()) {
		t.Fatal("a secret was printed")
	}
	os.Remove(filepath.Join(dir, "open.key"))
	if code, out, _ := run(t, "check", "--keys", dir, "--interface", "lo", "--services", "tcp/22"); code != 0 || !strings.Contains(out, "config ok") {
		t.Fatalf("clean check: exit %d, %q", code, out)
	}
	// What hypd run refuses, check refuses too; what run waits for, check notes.
	if code, _, errOut := run(t, "check", "--keys", dir, "--services", "tcp/22"); code != 2 || !strings.Contains(errOut, "no interface") {
		t.Errorf("check without an interface: exit %d, %q", code, errOut)
	}
	if code, out, _ := run(t, "check", "--keys", dir, "--services", "tcp/22", "--interface", "nosuch0"); code != 0 || !strings.Contains(out, "nosuch0 does not exist now; hypd run waits for it") {
		t.Errorf("check with a missing interface: exit %d, %q", code, out)
	}
	if code, _, errOut := run(t, "check", "--keys", dir, "--interface", "lo"); code != 1 || !strings.Contains(errOut, "opens no service") {
		t.Errorf("check with a key that opens nothing: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "check", "--keys", filepath.Join(dir, "nope"), "--interface", "lo"); code != 1 || !strings.Contains(errOut, "does not exist: hypd init makes it") {
		t.Errorf("check without a keys directory: exit %d, %q", code, errOut)
	}
}

func TestStatusWithoutDaemonSaysSo(t *testing.T) {
	code, _, errOut := run(t, "status", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	// LSB: status of a program that is not running exits 3.
	if code != 3 || !strings.Contains(errOut, "hypd is not running: nothing listens on") || strings.Contains(errOut, "http://") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

package cli_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// storeEnv is an Env whose profile store lives in a temporary directory
// with the given secret store.
func storeEnv(t *testing.T, secrets profiles.SecretStore) (*cli.Env, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config", "hyp")
	return &cli.Env{Profiles: func() (*profiles.Store, error) {
		return profiles.Open(profiles.Options{Dir: dir, Secrets: secrets})
	}}, dir
}

func grepDir(t *testing.T, dir, needle string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), needle) {
				t.Errorf("%s holds the secret", path)
			}
		}
		return nil
	})
}

const testURI = "hyp://192.0.2.7?secret=" + secret + "&check=tcp/443"

func TestProfileCommands(t *testing.T) {
	mem := profiles.NewMemory()
	env, dir := storeEnv(t, mem)
	env.Stdin = strings.NewReader(testURI + "\n")
	code, out, errOut := run(t, env, "profile", "add", "office", "-", "--keepalive", "2m", "--always-on", "--", "wg-quick", "up", "office")
	if code != 0 || !strings.Contains(out, "saved profile office") || !strings.Contains(out, "OS keyring") {
		t.Fatalf("add: %d %q %q", code, out, errOut)
	}
	grepDir(t, dir, secret[:16])

	// No silent overwrite; --force replaces.
	if code, _, errOut := run(t, env, "profile", "add", "office", testURI); code != 2 || !strings.Contains(errOut, "--force") {
		t.Fatalf("second add: %d %q", code, errOut)
	}
	code, out, _ = run(t, env, "profile", "list")
	for _, want := range []string{"office", "192.0.2.7", "tcp/443", "2m0s", "yes", "keyring", "wg-quick up office"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("list lacks %q: %q", want, out)
		}
	}
	k, _ := psk.Parse(secret)
	code, out, _ = run(t, env, "profile", "show", "office")
	if code != 0 || !strings.Contains(out, "secret=REDACTED") || !strings.Contains(out, "id "+k.ID()) || !strings.Contains(out, "wg-quick up office") {
		t.Fatalf("show: %d %q", code, out)
	}
	// export is the one command that prints the key; run() would reject it,
	// so call Run directly.
	var o, e strings.Builder
	if c := cli.Run(context.Background(), &cli.Env{Profiles: env.Profiles, Stdout: &o, Stderr: &e}, []string{"profile", "export", "office"}); c != 0 {
		t.Fatalf("export: %d %q", c, e.String())
	}
	if got := strings.TrimSpace(o.String()); !strings.Contains(got, "secret="+secret) || !strings.Contains(got, "name=office") || !strings.Contains(e.String(), "anyone who sees it") {
		t.Fatalf("export printed %q / %q", got, e.String())
	}
	o.Reset()
	if c := cli.Run(context.Background(), &cli.Env{Profiles: env.Profiles, Stdout: &o, Stderr: &e}, []string{"profile", "export", "--qr", "office"}); c != 0 || !strings.Contains(o.String(), "█") {
		t.Fatalf("export --qr: %d", c)
	}

	// The saved name works as TARGET of sequence.
	code, out, _ = run(t, env, "sequence", "office")
	want, _ := sequence.PortsAt(k, sequence.Defaults(), fixedNow.Unix(), 0)
	if code != 0 || strings.TrimSpace(out) != portsLine(want) {
		t.Fatalf("sequence office: %d %q", code, out)
	}

	code, out, _ = run(t, env, "profile", "remove", "office")
	if code != 0 || !strings.Contains(out, "keyring") || mem.Len() != 0 {
		t.Fatalf("remove: %d %q (%d secrets left)", code, out, mem.Len())
	}
	if code, _, errOut := run(t, env, "profile", "show", "office"); code != 2 || !strings.Contains(errOut, "no profile") {
		t.Fatalf("show after remove: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, env, "profile", "frobnicate"); code != 2 || !strings.Contains(errOut, "profile add") {
		t.Fatalf("unknown verb: %d %q", code, errOut)
	}
}

// noKeyring fails like a headless box without a Secret Service.
type noKeyring struct{}

func (noKeyring) Get(string) (psk.Key, error) { return psk.Key{}, err() }
func (noKeyring) Set(string, psk.Key) error   { return err() }
func (noKeyring) Delete(string) error         { return err() }
func err() error {
	return &profiles.KeyringError{Op: "set", Err: fmt.Errorf("%w: no D-Bus session bus", profiles.ErrNoKeyring)}
}

func TestProfileWithoutKeyring(t *testing.T) {
	env, _ := storeEnv(t, noKeyring{})
	code, _, errOut := run(t, env, "profile", "add", "office", testURI)
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--secret-file FILE") || !strings.Contains(errOut, "no OS keyring") {
		t.Fatalf("add without keyring: %d %q", code, errOut)
	}
	keyFile := filepath.Join(t.TempDir(), "office.key")
	code, out, errOut := run(t, env, "profile", "add", "office", testURI, "--secret-file", keyFile)
	if code != 0 || !strings.Contains(out, keyFile) {
		t.Fatalf("add --secret-file: %d %q %q", code, out, errOut)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if code, out, _ := run(t, env, "profile", "show", "office"); code != 0 || !strings.Contains(out, "file "+keyFile) {
		t.Fatalf("show: %d %q", code, out)
	}
	// A reference key file, world-readable: used in place, with a warning.
	ref := filepath.Join(t.TempDir(), "ref.key")
	os.WriteFile(ref, []byte(secret+"\n"), 0o644)
	code, _, errOut = run(t, env, "profile", "add", "ref", "--host", "gw.example.com", "--scheme", "hyp", "--secret-file", ref)
	if code != 0 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("add reference key: %d %q", code, errOut)
	}
	if b, _ := os.ReadFile(ref); string(b) != secret+"\n" {
		t.Fatal("the reference key file was rewritten")
	}
	code, out, _ = run(t, env, "profile", "remove", "ref")
	if code != 0 || !strings.Contains(out, "left in place") {
		t.Fatalf("remove: %d %q", code, out)
	}
}

func TestProfileAddFromReferenceKeyIntoKeyring(t *testing.T) {
	mem := profiles.NewMemory()
	env, _ := storeEnv(t, mem)
	ref := filepath.Join(t.TempDir(), "ref.key")
	os.WriteFile(ref, []byte(secret+"\n"), 0o600)
	if code, _, errOut := run(t, env, "profile", "add", "gw", "--host", "gw.example.com", "--scheme", "hyp", "--secret", ref, "--check", "tcp/22"); code != 0 {
		t.Fatalf("add: %d %q", code, errOut)
	}
	k, err := mem.Get("gw")
	want, _ := psk.Parse(secret)
	if err != nil || !k.Equal(want) {
		t.Fatalf("keyring holds %v, %v", k, err)
	}
	for _, bad := range [][]string{
		{"profile", "add", "x"},
		{"profile", "add", "bad/name", testURI},
		{"profile", "add", "x", "https://example.com"},
		{"profile", "add", "x", "--host", "h"},
		{"profile", "add", "x", testURI, "--keepalive", "1s"},
		{"profile", "add", "x", testURI, "--", ""},
	} {
		if code, _, errOut := run(t, env, bad...); code != 2 {
			t.Errorf("%q: exit %d %q, want 2", bad, code, errOut)
		}
	}
}

type recordLauncher struct {
	mu   sync.Mutex // guards argv
	argv []string
}

func (l *recordLauncher) Start(ctx context.Context, argv []string) (connect.Process, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.argv = argv
	return doneProc{}, nil
}

type doneProc struct{}

func (doneProc) Wait() error { return nil }

func TestConnectSavedProfile(t *testing.T) {
	env, _ := storeEnv(t, profiles.NewMemory())
	noCheck := "hyp://192.0.2.7?secret=" + secret
	if code, _, errOut := run(t, env, "profile", "add", "office", noCheck, "--", "vpn-up", "a b"); code != 0 {
		t.Fatalf("add: %d %q", code, errOut)
	}
	var n fakeNet
	l := &recordLauncher{}
	env.Listen, env.Launcher = n.listen, l
	code, out, errOut := run(t, env, "connect", "office")
	if code != 0 || n.count() != 1 || strings.Join(l.argv, "|") != "vpn-up|a b" {
		t.Fatalf("connect: %d %q %q; %d sockets, argv %q", code, out, errOut, n.count(), l.argv)
	}
	for _, want := range []string{"knocking", "connected", "launched", "exited"} {
		if !strings.Contains(out, want) {
			t.Errorf("connect output lacks %q: %q", want, out)
		}
	}
	// A command after -- replaces the profile's.
	if code, _, _ := run(t, env, "connect", "office", "--", "other", "x"); code != 0 || strings.Join(l.argv, " ") != "other x" {
		t.Fatalf("connect with command: %d %q", code, l.argv)
	}
	// Unknown name without --secret: bad input.
	if code, _, errOut := run(t, env, "connect", "nowhere"); code != 2 || !strings.Contains(errOut, "--secret") {
		t.Fatalf("connect unknown: %d %q", code, errOut)
	}
	// A failing launch is exit 1 with the reason.
	env.Launcher = failLauncher{}
	if code, _, errOut := run(t, env, "connect", "office"); code != 1 || !strings.Contains(errOut, "could not start the VPN command") {
		t.Fatalf("connect launch failure: %d %q", code, errOut)
	}
}

type failLauncher struct{}

func (failLauncher) Start(context.Context, []string) (connect.Process, error) {
	return nil, errors.New("executable file not found in $PATH")
}

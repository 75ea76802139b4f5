package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/server"
)

// childSocketEnv makes the test binary act as a control client for TestOtherUsersAreRefused: it
// asks the socket for the status and exits 0 on success, 3 when refused, 1 otherwise.
const childSocketEnv = "HYP_CONTROL_TEST_CHILD_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(childSocketEnv); sock != "" {
		st, err := control.NewClient(sock).Status(context.Background())
		switch {
		case err == nil:
			fmt.Println("allowed, progress counters:", st.Detector.Progress != nil)
			// Reading is allowed; changing the gateway must not be, unless root.
			uerr := control.NewClient(sock).Unprotect(context.Background(), "tcp/7001")
			_, rerr := control.NewClient(sock).Revoke(context.Background(), netip.MustParseAddr("10.77.0.2"))
			fmt.Println("unprotect:", uerr, "revoke:", rerr)
			if os.Geteuid() != 0 && (uerr == nil || rerr == nil) {
				os.Exit(4)
			}
			os.Exit(0)
		case errors.Is(err, syscall.EACCES):
			fmt.Println("refused:", err)
			os.Exit(3)
		default:
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// fakeBackend serves a fixed status and records revocations and unprotections.
type fakeBackend struct {
	st          control.Status
	mu          sync.Mutex // guards revoked, unprotected
	revoked     []netip.Addr
	unprotected []string
}

func (b *fakeBackend) Status() (control.Status, error) { return b.st, nil }

// Revoke closes one grant for 10.77.0.2 and none for anyone else.
func (b *fakeBackend) Revoke(a netip.Addr) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revoked = append(b.revoked, a)
	if a == netip.MustParseAddr("10.77.0.2") {
		return 1, nil
	}
	return 0, nil
}

// Unprotect refuses tcp/22, which the config names.
func (b *fakeBackend) Unprotect(svc string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if svc == "tcp/22" {
		return errors.New("tcp/22 is named by the config; remove it there first")
	}
	b.unprotected = append(b.unprotected, svc)
	return nil
}

func sampleStatus() control.Status {
	return control.Status{
		Started:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Keys:        []server.KeyInfo{{Name: "laptop", ID: "a1b2c3d4", Scheme: "v2", Services: []string{"tcp/22"}, Open: "1m0s"}},
		Grants:      []control.Grant{{Source: "10.77.0.2", Service: "tcp/22", SecondsLeft: 42}},
		Detector:    control.Counters{Seen: 10, Completions: 1, Progress: &control.Progress{Hits: 4, Resets: 1}},
		Server:      server.Stats{Grants: 1, ReplaysRefused: 2, SequencesLoaded: 3},
		Interfaces:  map[string]string{"eth0": "native"},
		Protected:   []control.Protected{{Service: "tcp/22", From: []string{"config"}}, {Service: "tcp/8443", From: []string{}}},
		KeyProblems: []string{"key file /etc/hyp/keys/bob.toml:3: open: \"x\" is not a duration such as \"90s\""},
	}
}

func listen(t *testing.T, path string, b control.Backend) {
	t.Helper()
	s, err := control.Listen(path, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestStatusAndRevoke(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "hypd.sock")
	b := &fakeBackend{st: sampleStatus()}
	listen(t, sock, b)
	c := control.NewClient(sock)
	ctx := context.Background()

	got, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := b.st
	if os.Geteuid() == 0 {
		want.NetNS = control.NetNS() // root is told the hypd's network namespace
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Status = %+v\nwant %+v", got, want)
	}
	// The JSON field names are an interface for scripts: pin the ones the docs name.
	raw, _ := json.Marshal(got)
	for _, field := range []string{`"replays_refused":2`, `"completions":1`, `"seen":10`, `"interfaces":{"eth0":"native"}`, `"seconds_left":42`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("status JSON lacks %s: %s", field, raw)
		}
	}

	if n, err := c.Revoke(ctx, netip.MustParseAddr("::ffff:10.77.0.2")); err != nil || n != 1 {
		t.Fatalf("Revoke(10.77.0.2) = %d, %v; want 1 grant closed", n, err)
	}
	if n, err := c.Revoke(ctx, netip.MustParseAddr("10.77.0.9")); err != nil || n != 0 {
		t.Fatalf("Revoke(10.77.0.9) = %d, %v; want 0: it had no grant", n, err)
	}
	b.mu.Lock()
	revoked := b.revoked
	b.mu.Unlock()
	if len(revoked) != 2 || revoked[0] != netip.MustParseAddr("10.77.0.2") {
		t.Fatalf("revoked %v, want the unmapped 10.77.0.2 first", revoked)
	}

	if err := c.Unprotect(ctx, "tcp/8443"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unprotect(ctx, "tcp/22"); err == nil || !strings.Contains(err.Error(), "named by the config") {
		t.Fatalf("Unprotect(tcp/22) = %v; want the backend's refusal", err)
	}
}

func TestSocketModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(dir, "hypd.sock")
	listen(t, sock, &fakeBackend{})
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want srw-rw----", fi.Mode())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o750 {
		t.Errorf("socket directory mode = %v, want drwxr-x---", di.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("socket directory holds %d entries, want just the socket (no temporary name left)", len(entries))
	}
}

func TestReplacesStaleSocketOnly(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "hypd.sock")
	// A killed hypd leaves its socket behind, with nobody listening. (A live one is refused:
	// TestListenRefusesALiveSocket.)
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	listen(t, sock, &fakeBackend{st: sampleStatus()})
	st, err := control.NewClient(sock).Status(context.Background())
	if err != nil || len(st.Keys) != 1 {
		t.Fatalf("status from the new server: %+v, %v", st, err)
	}

	plain := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(plain, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Listen(plain, &fakeBackend{}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: err = %v", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "precious" {
		t.Fatal("Listen clobbered a regular file")
	}
}

func TestClientErrors(t *testing.T) {
	_, err := control.NewClient(filepath.Join(t.TempDir(), "none.sock")).Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "hypd is not running: nothing listens on") {
		t.Fatalf("status without a daemon: err = %v", err)
	}
}

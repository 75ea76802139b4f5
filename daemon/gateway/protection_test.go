package gateway

import (
	"github.com/hideyourports/hyp/daemon/protected"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/daemon/config"
)

var (
	ssh   = protected.Service{Proto: "tcp", Port: 22}
	alt   = protected.Service{Proto: "tcp", Port: 8443}
	wg    = protected.Service{Proto: "udp", Port: 51820}
	https = protected.Service{Proto: "tcp", Port: 443}
)

func TestProtectionKeepsWhatNothingNamesAnyMore(t *testing.T) {
	cfg := config.Default()
	cfg.Services = []protected.Service{ssh}
	keys := []config.Key{{Name: "alice", Services: []protected.Service{alt, ssh}}}

	got := protection(cfg, keys, nil)
	want := []Origin{{ssh, []string{"config", "key alice"}}, {alt, []string{"key alice"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("protection = %+v, want %+v", got, want)
	}

	// alice's key file is deleted (revoked) or fails to load: tcp/8443 stays, named by nothing.
	got = protection(cfg, nil, servicesOf(got))
	want = []Origin{{ssh, []string{"config"}}, {alt, nil}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the key went: %+v, want %+v", got, want)
	}

	// A valid config that makes a kept service public gives it up on purpose.
	cfg.Public = []protected.Service{alt}
	got = protection(cfg, nil, []protected.Service{ssh, alt, wg})
	want = []Origin{{ssh, []string{"config"}}, {wg, nil}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with tcp/8443 public: %+v, want %+v", got, want)
	}
}

func TestProtectionFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := loadProtection(dir); ok || err != nil {
		t.Fatalf("loadProtection of an empty dir = %v, %v; want none, no error", ok, err)
	}
	p := Protection{Protected: []protected.Service{ssh, alt}, Public: []protected.Service{https}, Stealth: true}
	if err := saveProtection(dir, p); err != nil {
		t.Fatal(err)
	}
	got, ok, err := loadProtection(dir)
	p.Version = 1
	if err != nil || !ok || !reflect.DeepEqual(got, p) {
		t.Fatalf("loadProtection = %+v, %v, %v; want %+v", got, ok, err, p)
	}
	fi, err := os.Stat(filepath.Join(dir, protectionFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("protection file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	// A broken file is an error that says what to do, never silently "nothing protected".
	if err := os.WriteFile(filepath.Join(dir, protectionFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadProtection(dir); err == nil || !strings.Contains(err.Error(), protectionFile) {
		t.Errorf("loadProtection of a broken file = %v; want an error naming it", err)
	}
}

func TestCheckStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := checkStateDir(dir); err != nil {
		t.Fatalf("checkStateDir(%s) = %v", dir, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("checkStateDir left %v behind", entries)
	}
	if os.Geteuid() == 0 {
		// root writes through any mode; a file where the directory should be fails for anyone.
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		dir = filepath.Join(file, "state")
	} else {
		ro := t.TempDir()
		os.Chmod(ro, 0o500)
		dir = ro
	}
	err := checkStateDir(dir)
	if err == nil || !strings.Contains(err.Error(), "state_dir "+dir+" is not writable") || !strings.Contains(err.Error(), "ReadWritePaths=") {
		t.Errorf("checkStateDir(%s) = %v; want an error naming the directory and the fix", dir, err)
	}
}

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRevokedKeyBehindASymlinkOpensNothing (attacker review, h-attack2): the admin keeps the key
// files in one directory and links them into the keys directory, then revokes alice by removing
// her file where it lives. Watching the keys directory alone, hypd sees no event for a symlink's
// target, so it refuses such a key file from the start (naming it in status): alice's key never
// loads, and a knock with her profile opens nothing, before the revocation and after it.
func TestRevokedKeyBehindASymlinkOpensNothing(t *testing.T) {
	g := newGateway(t, 1)
	l := g.lab
	store := filepath.Join(g.dir, "store")
	if err := os.Mkdir(store, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin("hypd"), "secret", "new", "alice", "--keys", store, "--host", l.GatewayIP().String(), "--scheme", "v3", "--no-check").Output()
	if err != nil {
		t.Fatalf("hypd secret new: %v", describe(err))
	}
	uri := string(out)
	files, err := filepath.Glob(filepath.Join(store, "alice.*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("alice's key file in %s: %v %v", store, files, err)
	}
	link := filepath.Join(g.keys, filepath.Base(files[0]))
	if err := os.Symlink(files[0], link); err != nil {
		t.Fatal(err)
	}
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	st := g.status()
	if n := len(st.Keys); n != 0 {
		t.Errorf("%d keys loaded through a symlink to %s, outside the keys directory; want it refused", n, store)
	}
	if !slices.ContainsFunc(st.KeyProblems, func(p string) bool {
		return strings.Contains(p, link) && strings.Contains(p, "outside the keys directory")
	}) {
		t.Errorf("status names no problem with %s leading outside the keys directory: %q", link, st.KeyProblems)
	}
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	g.knock(l.Client, uri)
	time.Sleep(500 * time.Millisecond)
	if st := g.status(); st.Server.Grants != 0 {
		t.Errorf("alice's key behind a symlink out opened: %d grants %+v", st.Server.Grants, st.Grants)
	}
	assertHidden(t, client)

	// Revoke alice.
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	// Longer than the watch's debounce and a swap's grace (2 s) together.
	time.Sleep(3 * time.Second)
	if n := len(g.status().Keys); n != 0 {
		t.Errorf("%d keys loaded 3 s after alice's key file was removed; want 0", n)
	}
	g.knock(l.Client, uri)
	time.Sleep(500 * time.Millisecond)
	if st := g.status(); st.Server.Grants != 0 {
		t.Errorf("alice's revoked key opened: %d grants %+v", st.Server.Grants, st.Grants)
	}
	assertHidden(t, client)
}

// TestRevokedKeyOpensNothingWhenTheKeysDirectoryCameLate (attacker review, h-attack2): hypd was
// started before the keys directory existed (a provisioning run that installs the service before
// it rolls out the keys). hypd then watches nothing for the rest of its life, with one warning:
// the keys loaded by a later reload stay loaded after their files are removed.
func TestRevokedKeyOpensNothingWhenTheKeysDirectoryCameLate(t *testing.T) {
	g := newGateway(t, 2)
	l := g.lab
	if err := os.Remove(g.keys); err != nil {
		t.Fatal(err)
	}
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	if err := os.Mkdir(g.keys, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin("hypd"), "secret", "new", "alice", "--keys", g.keys, "--host", l.GatewayIP().String(), "--scheme", "v3", "--no-check").Output()
	if err != nil {
		t.Fatalf("hypd secret new: %v", describe(err))
	}
	uri := string(out)
	if out, code := g.hypdCmd("reload", "--socket", g.sock); code != 0 {
		t.Fatalf("hypd reload: exit %d: %s", code, out)
	}
	if n := len(g.status().Keys); n != 1 {
		t.Fatalf("%d keys loaded after the reload; want 1", n)
	}
	files, _ := filepath.Glob(filepath.Join(g.keys, "alice.*"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * time.Second)
	if n := len(g.status().Keys); n != 0 {
		t.Errorf("%d keys still loaded 3 s after alice's key file was removed; want 0", n)
	}
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	g.knock(l.Client, uri)
	time.Sleep(500 * time.Millisecond)
	if st := g.status(); st.Server.Grants != 0 {
		t.Errorf("alice's revoked key opened: %+v", st.Grants)
	}
	assertHidden(t, client)
}

package helperipc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

func testAddress(*testing.T) string {
	return fmt.Sprintf(`\\.\pipe\hyp-helper-test-%d-%d`, os.Getpid(), time.Now().UnixNano())
}

func isAdmin() bool { return windows.GetCurrentProcessToken().IsElevated() }

// TestPipeACL: the pipe carries the ACL it was given (read back from the
// listening instance), and on Windows that ACL is the first gate: with one
// that admits nobody, opening the pipe fails with access denied.
func TestPipeACL(t *testing.T) {
	ln, err := Listen(Config{Address: fmt.Sprintf(`\\.\pipe\hyp-helper-test-acl-%d`, os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	pl := ln.Listener.(*pipeListener)
	sd, err := windows.GetSecurityInfo(pl.pending, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
	ln.Close()
	if err != nil {
		t.Fatalf("reading the pipe's ACL: %v", err)
	}
	want, _ := windows.SecurityDescriptorFromString(PipeSDDL)
	if sd.String() != want.String() {
		t.Fatalf("the pipe's ACL is %s, want %s", sd, want)
	}

	_, addr := serveOn(t, Config{SDDL: "D:P"})
	_, err = testClient(addr).List(context.Background())
	if underWine() {
		// Wine keeps a pipe's security descriptor (checked above) but does
		// no access check on opening it: there the peer check is all.
		t.Logf("under wine, which does not check pipe ACLs on open: %v", err)
		return
	}
	if !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		t.Fatalf("list through a pipe that admits nobody: %v", err)
	}
}

// underWine: wine's registry has its own key.
func underWine() bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}

// TestPipeSDDL: the helper's ACL parses, denies network logons first and
// grants interactive users read and write but not FILE_CREATE_PIPE_INSTANCE
// (GRGW did: a user could add instances of the helper's pipe and take its
// clients), SYSTEM and Administrators in full.
func TestPipeSDDL(t *testing.T) {
	sd, err := windows.SecurityDescriptorFromString(PipeSDDL)
	if err != nil {
		t.Fatal(err)
	}
	if s := sd.String(); !strings.HasPrefix(s, "D:P(D;;GA;;;NU)") {
		t.Fatalf("pipe SDDL round-trips as %s", s)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	iu, _ := windows.CreateWellKnownSid(windows.WinInteractiveSid)
	found := false
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || !(*windows.SID)(unsafe.Pointer(&ace.SidStart)).Equals(iu) {
			continue
		}
		found = true
		const createInstance = windows.FILE_APPEND_DATA // FILE_CREATE_PIPE_INSTANCE on a pipe
		if m := ace.Mask; m&(createInstance|windows.GENERIC_WRITE|windows.GENERIC_ALL|windows.WRITE_DAC|windows.WRITE_OWNER) != 0 {
			t.Errorf("interactive users get %#x: it includes creating pipe instances (or rights that imply it)", m)
		}
		if m, want := ace.Mask, windows.ACCESS_MASK(windows.FILE_READ_DATA|windows.FILE_WRITE_DATA|windows.SYNCHRONIZE); m&want != want {
			t.Errorf("interactive users get %#x, without read, write and synchronize (%#x)", m, want)
		}
	}
	if !found {
		t.Fatalf("no entry for interactive users in %s", sd)
	}
}

// impostorClient is a client that insists on the helper's own account,
// LocalSystem, talking to a test server that runs as this process.
func impostorClient(t *testing.T, addr string) *Client {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	if u.User.Sid.String() == DefaultServer {
		needs.Missing(t, "a test process that is not LocalSystem (it serves the stand-in for a user's pipe)")
	}
	return &Client{Address: addr}
}

// testClient is a client of a test server, which runs as this process's
// account (not LocalSystem, which the real helper's clients insist on).
func testClient(addr string) *Client {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		panic(fmt.Sprintf("reading this process's user: %v", err))
	}
	return &Client{Address: addr, Server: u.User.Sid.String()}
}

package helperipc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
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
	_, err = (&Client{Address: addr}).List(context.Background())
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
// grants interactive users read/write only.
func TestPipeSDDL(t *testing.T) {
	sd, err := windows.SecurityDescriptorFromString(PipeSDDL)
	if err != nil {
		t.Fatal(err)
	}
	if s := sd.String(); !strings.HasPrefix(s, "D:P(D;;GA;;;NU)") || !strings.Contains(s, "(A;;GWGR;;;IU)") {
		t.Fatalf("pipe SDDL round-trips as %s", s)
	}
}

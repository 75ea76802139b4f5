package helperipc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestPipeOwnerDecision: the client's check of the pipe (checkServer) on security descriptors
// built from SDDL: a pipe owned by the expected account is the helper's; one owned by a user,
// by Administrators when LocalSystem is expected, or by nobody is not, and the refusal names
// the owner found and the one expected.
func TestPipeOwnerDecision(t *testing.T) {
	for _, tc := range []struct {
		name, sddl, want string
		refusal          string // "" accepted
	}{
		{"LocalSystem's pipe", "O:SY" + PipeSDDL, DefaultServer, ""},
		{"a user's squatter pipe", "O:S-1-5-21-1-2-3-1000" + PipeSDDL, DefaultServer, "owned by S-1-5-21-1-2-3-1000"},
		{"owned by Administrators", "O:BA" + PipeSDDL, DefaultServer, "owned by S-1-5-32-544"},
		{"no owner", PipeSDDL, DefaultServer, "without an owner"},
		{"a test server's account", "O:S-1-5-21-1-2-3-1000D:P", "S-1-5-21-1-2-3-1000", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := windows.SecurityDescriptorFromString(tc.sddl)
			if err != nil {
				t.Fatalf("building %q: %v", tc.sddl, err)
			}
			err = ownerIs(sd, tc.want)
			switch {
			case tc.refusal == "" && err != nil:
				t.Fatalf("%s: refused: %v", tc.sddl, err)
			case tc.refusal != "" && err == nil:
				t.Fatalf("%s: accepted, want a refusal naming %q", tc.sddl, tc.refusal)
			case tc.refusal != "" && (!strings.Contains(err.Error(), tc.refusal) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%s: refusal %q does not name %q and %s", tc.sddl, err, tc.refusal, tc.want)
			}
			if err != nil {
				t.Logf("refused: %v", err)
			}
		})
	}
}

// TestPipeOwnedBySystem: Listen makes its pipe owned by this process's account (read back from
// the listening instance), which is what a client checks. A process that is not LocalSystem
// and asks for a pipe owned by SYSTEM, as a squatter would, is refused by Windows
// (ERROR_INVALID_OWNER). Wine does not check owners: there the pipe is made, and a client that
// insists on LocalSystem accepts it and is served, which proves the client reads the owner
// from its own handle of the pipe (not from the server's process, which a standard user cannot
// open).
func TestPipeOwnedBySystem(t *testing.T) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	me := u.User.Sid.String()
	ln, err := Listen(Config{Address: testAddress(t)})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetSecurityInfo(ln.Listener.(*pipeListener).pending, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	ln.Close()
	if err != nil {
		t.Fatalf("reading the pipe's owner: %v", err)
	}
	if owner, _, err := sd.Owner(); err != nil || owner == nil || owner.String() != me {
		t.Fatalf("the pipe is owned by %v (%v), want this process's account %s", owner, err, me)
	}
	if me == DefaultServer {
		t.Logf("this process is LocalSystem: its pipes are SYSTEM's by right")
		return
	}

	addr := fmt.Sprintf(`\\.\pipe\hyp-helper-test-system-%d`, os.Getpid())
	ln, err = Listen(Config{Address: addr, SDDL: "O:SY" + PipeSDDL})
	if err != nil {
		if !errors.Is(err, windows.ERROR_INVALID_OWNER) {
			t.Fatalf("a pipe owned by SYSTEM, made by %s: %v (want ERROR_INVALID_OWNER)", me, err)
		}
		t.Logf("refused, as for any squatter: %v", err)
		return
	}
	ln.Close()
	if !underWine() {
		t.Fatalf("%s made a pipe owned by SYSTEM: a squatter could pass for the helper", me)
	}
	_, addr = serveOn(t, Config{SDDL: "O:SY" + PipeSDDL})
	if _, err := (&Client{Address: addr}).List(context.Background()); err != nil {
		t.Fatalf("a client of LocalSystem, on a pipe owned by SYSTEM: %v", err)
	}
	t.Logf("under wine, which lets any process name SYSTEM the owner: the client accepted the SYSTEM-owned pipe")
}

// TestDialAccessWithinUsersEntry: what a client asks of the pipe (dialAccess) is all within
// what PipeSDDL grants interactive users, READ_CONTROL included (the client reads the pipe's
// owner): a standard user's open is not denied. GENERIC_WRITE was not: on a pipe it includes
// FILE_CREATE_PIPE_INSTANCE, which the users' entry leaves out. (Wine does not check pipe ACLs
// on open, so this is checked on the masks.)
func TestDialAccessWithinUsersEntry(t *testing.T) {
	sd, err := windows.SecurityDescriptorFromString(PipeSDDL)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	iu, _ := windows.CreateWellKnownSid(windows.WinInteractiveSid)
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || !(*windows.SID)(unsafe.Pointer(&ace.SidStart)).Equals(iu) {
			continue
		}
		if extra := uint32(dialAccess) &^ uint32(ace.Mask); extra != 0 {
			t.Fatalf("a client asks for %#x, of which %#x interactive users are not granted (%#x)", uint32(dialAccess), extra, ace.Mask)
		}
		if dialAccess&windows.READ_CONTROL == 0 {
			t.Fatalf("a client's handle (%#x) could not read the pipe's owner", uint32(dialAccess))
		}
		return
	}
	t.Fatalf("no entry for interactive users in %s", sd)
}

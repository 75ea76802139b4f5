package elevate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

const testKey = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"

// TestReadKeyFileOneHandle: ReadKeyFile reads a plain and a TOML key file; refuses a folder
// and a link (a reparse point, which it never follows: a junction swapped in after a check by
// name would have the elevated hyp read a file of the user's choosing), naming the file. The
// check of who may read runs on the very handle the key is read from: with a token that may
// not read the file (here: this process's, with its own account made deny-only) the opened
// handle is refused, and with this process's own token it is accepted.
func TestReadKeyFileOneHandle(t *testing.T) {
	dir, err := os.MkdirTemp("", "hyp-elevate-test-")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: Go's RemoveAll deletes with POSIX semantics, which wine 8 lacks.
	t.Cleanup(func() { os.RemoveAll(dir) })
	plain := filepath.Join(dir, "plain.key")
	toml := filepath.Join(dir, "gw.toml")
	writeWithACL(t, plain, testKey+"\n")
	if err := os.WriteFile(toml, []byte("secret = \""+testKey+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, toml} {
		kf, err := ReadKeyFile(p)
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		if kf.Secret.Encode() != testKey {
			t.Fatalf("%s: read another key", p)
		}
	}
	if _, err := ReadKeyFile(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a folder as the key file: %v", err)
	}
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(plain, link); err != nil {
		t.Logf("this system makes no symbolic link here: %v", err)
	} else if _, err := os.Lstat(link); err != nil {
		t.Logf("this system made no link %s (%v): wine's CreateSymbolicLink reports success and makes nothing", link, err)
	} else if _, err := ReadKeyFile(link); err == nil || !strings.Contains(err.Error(), "reparse point") {
		t.Fatalf("a link as the key file: %v", err)
	} else {
		t.Logf("refused: %v", err)
	}

	// The handle, checked with a token that may read it and one that may not.
	p, _ := windows.UTF16PtrFromString(plain)
	h, err := windows.CreateFile(p, windows.FILE_READ_DATA|windows.FILE_READ_ATTRIBUTES|windows.READ_CONTROL, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the key file's ACL: %s", sd)
	var mine windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE|windows.TOKEN_ASSIGN_PRIMARY, &mine); err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	if err := checkInvokerHandle(h, plain, mine, true); err != nil {
		t.Fatalf("this process's own key file, checked with its own token: %v", err)
	}
	// A token that may not read it: this process's with its account deny-only. Wine ignores
	// deny-only entries (it grants what the token had); there the case below carries it.
	denied := denyOnlyToken(t, mine)
	defer denied.Close()
	err = checkInvokerHandle(h, plain, denied, true)
	switch {
	case err == nil && underWine():
		t.Logf("wine grants a deny-only account its access: the next case checks the handle")
	case err == nil || !strings.Contains(err.Error(), "only with administrator rights") || !strings.Contains(err.Error(), plain):
		t.Fatalf("the key file checked with a token that may not read it: %v", err)
	default:
		t.Logf("refused: %v", err)
	}

	// A file only SYSTEM may read. Windows does not let this process open it at all; wine,
	// which checks opens by Unix rights (this test runs as the file's Unix owner), does, and
	// then the ACL read from the handle refuses it to this process's token.
	sys := filepath.Join(dir, "system.key")
	writeWithSDDL(t, sys, "D:P(A;;FA;;;SY)", testKey+"\n")
	ps, _ := windows.UTF16PtrFromString(sys)
	hs, err := windows.CreateFile(ps, windows.FILE_READ_DATA|windows.FILE_READ_ATTRIBUTES|windows.READ_CONTROL, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		if u, _ := mine.GetTokenUser(); u != nil && u.User.Sid.String() == "S-1-5-18" {
			t.Fatalf("SYSTEM cannot open a file only SYSTEM may read: %v", err)
		}
		t.Logf("this system does not open a file only SYSTEM may read: %v", err)
		return
	}
	defer windows.CloseHandle(hs)
	err = checkInvokerHandle(hs, sys, mine, true)
	if err == nil || !strings.Contains(err.Error(), "only with administrator rights") || !strings.Contains(err.Error(), sys) {
		sd, _ := windows.GetSecurityInfo(hs, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
		t.Fatalf("a file only SYSTEM may read (%s), checked on its handle: %v", sd, err)
	}
	t.Logf("refused: %v", err)
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

// denyOnlyToken is tok with its user, and every group but SYSTEM's and Administrators', made
// deny-only (CreateRestrictedToken): it may open what only those accounts may.
func denyOnlyToken(t *testing.T, tok windows.Token) windows.Token {
	t.Helper()
	u, err := tok.GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := tok.GetTokenGroups()
	if err != nil {
		t.Fatal(err)
	}
	system, _ := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	admins, _ := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	disable := []windows.SIDAndAttributes{{Sid: u.User.Sid}}
	for _, g := range gs.AllGroups() {
		if !g.Sid.Equals(system) && !g.Sid.Equals(admins) && g.Attributes&windows.SE_GROUP_LOGON_ID == 0 {
			disable = append(disable, windows.SIDAndAttributes{Sid: g.Sid})
		}
	}
	var out windows.Token
	r, _, e := windows.NewLazySystemDLL("advapi32.dll").NewProc("CreateRestrictedToken").Call(
		uintptr(tok), 0, uintptr(len(disable)), uintptr(unsafe.Pointer(&disable[0])), 0, 0, 0, 0, uintptr(unsafe.Pointer(&out)))
	if r == 0 {
		t.Fatalf("CreateRestrictedToken: %v", e)
	}
	return out
}

// writeWithACL makes path holding content with an ACL that lets only this process's account
// in (protected: nothing inherited).
func writeWithACL(t *testing.T, path, content string) {
	t.Helper()
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	writeWithSDDL(t, path, "D:P(A;;FA;;;"+u.User.Sid.String()+")", content)
}

// writeWithSDDL makes path holding content, created with the security descriptor sddl.
func writeWithSDDL(t *testing.T, path, sddl, content string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	p, _ := windows.UTF16PtrFromString(path)
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatalf("creating %s: %v", path, err)
	}
	f := os.NewFile(uintptr(h), path)
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

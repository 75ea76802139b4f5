package helper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/hideyourports/hyp/app/helper/perm"
)

// TestServiceLogTakesOverAUsersLog: a helper.log someone else made first (a standard user, in
// ProgramData\hyp before the helper ran; here a file whose ACL lets Everyone in) is taken over
// when the helper opens it: its owner and protected private ACL are set on the helper's handle
// and the other's lines are dropped. One that other still has open is refused, naming why:
// a handle opened before keeps its access whatever the new ACL says.
func TestServiceLogTakesOverAUsersLog(t *testing.T) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	me := u.User.Sid
	base := tempDir(t)
	usersLog := func(name string) Config {
		cfg := Config{Dir: filepath.Join(base, name, "helper")}
		path := logPath(cfg)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("a line the user wrote\n"), 0o666); err != nil {
			t.Fatal(err)
		}
		sd, err := windows.SecurityDescriptorFromString("O:" + me.String() + "D:P(A;;FA;;;WD)")
		if err != nil {
			t.Fatal(err)
		}
		owner, _, _ := sd.Owner()
		dacl, _, _ := sd.DACL()
		if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
			windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
			owner, nil, dacl, nil); err != nil {
			t.Fatalf("giving the log a user's ACL: %v", err)
		}
		got, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			t.Fatal(err)
		}
		if perm.CheckFileDescriptor(got, me) == nil {
			t.Fatalf("the stand-in for a user's log is private already (%s): nothing to take over", got)
		}
		t.Logf("a user's log: %s", got)
		return cfg
	}

	cfg := usersLog("taken")
	f, err := OpenServiceLog(cfg)
	if err != nil {
		t.Fatalf("opening a log a user made: %v", err)
	}
	if _, err := f.Write([]byte("the helper's line\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := os.ReadFile(logPath(cfg)); err != nil || string(b) != "the helper's line\n" {
		t.Fatalf("the taken-over log holds %q (%v), want the helper's line alone", b, err)
	}
	sd, err := windows.GetNamedSecurityInfo(logPath(cfg), windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if err := perm.CheckFileDescriptor(sd, nil); err != nil {
		if !underWine() {
			t.Fatalf("the taken-over log %v (%s)", err, sd)
		}
		t.Logf("wine keeps no ACLs: the log reads back as %s", sd)
	} else {
		t.Logf("taken over: %s", sd)
	}

	held := usersLog("held")
	h, err := os.Open(logPath(held))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if f, err := OpenServiceLog(held); err == nil {
		f.Close()
		t.Fatal("a user's log that another handle still has open was taken over")
	} else if !strings.Contains(err.Error(), "another process has it open") {
		t.Fatalf("a user's log held open: %v", err)
	} else {
		t.Logf("refused: %v", err)
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

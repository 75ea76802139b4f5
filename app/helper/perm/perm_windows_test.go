package perm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// TestCheckDescriptor runs the store's check on security descriptors built here: an owner or an
// allowing entry other than SYSTEM and Administrators, a missing DACL, an unprotected
// directory and an entry kind it does not know are each refused, naming what is wrong.
func TestCheckDescriptor(t *testing.T) {
	for _, tc := range []struct {
		name, sddl string
		dir        bool
		refusal    string // "" accepted
	}{
		{"admins own, private", "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", true, ""},
		{"system owns, private", "O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", true, ""},
		{"file inheriting the private ACL", "O:BAD:(A;ID;FA;;;SY)(A;ID;FA;;;BA)", false, ""},
		{"deny entries are fine", "O:BAD:P(D;;FA;;;WD)(A;;FA;;;SY)", true, ""},
		{"a user owns it", "O:S-1-5-21-1-2-3-1000D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", true, "owned by S-1-5-21-1-2-3-1000"},
		{"users may read", "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FR;;;BU)", true, "grants access to S-1-5-32-545"},
		{"everyone may read", "O:BAD:P(A;OICI;FA;;;SY)(A;;FR;;;WD)", true, "grants access to S-1-1-0"},
		{"a user may write", "O:BAD:P(A;;FA;;;SY)(A;;FW;;;S-1-5-21-1-2-3-1000)", false, "grants access to S-1-5-21-1-2-3-1000"},
		{"creator owner", "O:BAD:P(A;OICIIO;FA;;;CO)", true, "grants access to S-1-3-0"},
		{"no DACL", "O:BA", true, "no DACL"},
		{"directory inherits", "O:BAD:(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", true, "not protected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := windows.SecurityDescriptorFromString(tc.sddl)
			if err != nil {
				t.Fatalf("building %q: %v", tc.sddl, err)
			}
			err = checkDescriptor(sd, tc.dir)
			switch {
			case tc.refusal == "" && err != nil:
				t.Fatalf("%s: refused: %v", tc.sddl, err)
			case tc.refusal != "" && err == nil:
				t.Fatalf("%s: accepted, want a refusal naming %q", tc.sddl, tc.refusal)
			case tc.refusal != "" && !strings.Contains(err.Error(), tc.refusal):
				t.Fatalf("%s: refusal %q does not name %q", tc.sddl, err, tc.refusal)
			}
		})
	}
}

// TestRefusesReparsePoints: a link where the store or a profile is expected is refused. (Under
// wine, whose links are Unix symbolic links, the refusal may be that the path cannot be
// resolved rather than that it is a reparse point; refused it is either way.)
func TestRefusesReparsePoints(t *testing.T) {
	dir := tempDir(t)
	real := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RefuseReparse(real); err != nil {
		t.Fatalf("a plain directory: %v", err)
	}
	link := filepath.Join(dir, "helper")
	if err := os.Symlink(real, link); err != nil {
		t.Fatalf("making a directory link: %v", err)
	}
	err := RefuseReparse(link)
	if err == nil {
		t.Fatal("a directory link was accepted")
	}
	t.Logf("refused: %v", err)
	if err := CheckPrivate(link, true); err == nil {
		t.Fatal("CheckPrivate accepted a directory link")
	}
}

// tempDir is t.TempDir without failing the test when the directory cannot be removed: Go's
// RemoveAll deletes with POSIX semantics (FILE_DISPOSITION_INFORMATION_EX), which wine 8 lacks.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hyp-helper-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

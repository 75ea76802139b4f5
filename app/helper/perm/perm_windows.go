package perm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// RequireAdmin refuses early unless the process token is elevated.
func RequireAdmin(what string) error {
	if !windows.GetCurrentProcessToken().IsElevated() {
		return fmt.Errorf("%s needs an elevated administrator prompt: the helper's store is readable by SYSTEM and Administrators only", what)
	}
	return nil
}

// PrivateSDDL: owned by Administrators, full control to SYSTEM and Administrators only,
// inherited by files and subfolders, and protected (P) from the inheritable entries of
// ProgramData, which let every user read.
const PrivateSDDL = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// SecureDir makes dir (and a missing parent) with the private descriptor from the start, so
// there is no moment a user could open it; an existing dir (which a standard user may have
// made first, to own it) gets the owner and ACL replaced. Then it reads back what it set: a
// system that does not keep ACLs (wine) fails here rather than at the next load.
func SecureDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(PrivateSDDL)
	if err != nil {
		return fmt.Errorf("building the helper store ACL: %w", err)
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := MakePrivate(d, sd); err != nil {
			return err
		}
	}
	return CheckPrivate(dir, true)
}

func MakePrivate(dir string, sd *windows.SECURITY_DESCRIPTOR) error {
	if err := RefuseReparse(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	err = windows.CreateDirectory(p, sa)
	if err == nil {
		return nil
	}
	if !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		return fmt.Errorf("creating the helper store %s: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("building the helper store ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("building the helper store ACL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		owner, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("securing the helper store %s: %w", dir, err)
	}
	return nil
}

// RefuseReparse fails for a junction, symbolic link or other reparse point: one planted in the
// store would redirect the helper's reads and writes to where its planter chose.
func RefuseReparse(path string) error {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	attrs, err := windows.GetFileAttributes(p)
	if err != nil {
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			return fmt.Errorf("%s: %w", path, os.ErrNotExist)
		}
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if attrs&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
		return fmt.Errorf("%s is a junction or link (a reparse point): the helper store must be a plain directory and plain files", path)
	}
	return nil
}

// CheckPrivate accepts a path that is no reparse point, resolves to itself (no junction above
// it), and whose security descriptor checkDescriptor accepts. It runs after every change and
// at every load.
func CheckPrivate(path string, dir bool) error {
	if err := RefuseReparse(path); err != nil {
		return err
	}
	if err := checkFinalPath(path); err != nil {
		return err
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the ACL of %s: %w", path, err)
	}
	if err := checkDescriptor(sd, dir); err != nil {
		return fmt.Errorf("%s %w: the helper will not use keys others can read or replace (run hyp helper add as an administrator to reset it)", path, err)
	}
	return nil
}

// checkFinalPath fails when path resolves elsewhere: a junction in a parent directory.
func checkFinalPath(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	p, err := windows.UTF16PtrFromString(abs)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer windows.CloseHandle(h)
	if why := ResolvesElsewhere(h, abs); why != "" {
		return fmt.Errorf("%s %s above the helper store redirects it", path, why)
	}
	return nil
}

// ResolvesElsewhere says where an opened file really is when that is not path (a junction
// above it, or a link the open followed: wine's links are Unix ones, which it follows), or "".
// The sentence completes one that starts with the path.
func ResolvesElsewhere(h windows.Handle, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Sprintf("cannot be resolved (%v)", err)
	}
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n, err := windows.GetFinalPathNameByHandle(h, &buf[0], uint32(len(buf)), volumeNameDOS)
	if err != nil {
		return fmt.Sprintf("cannot be resolved (%v)", err)
	}
	final := strings.TrimPrefix(windows.UTF16ToString(buf[:n]), `\\?\`)
	if !strings.EqualFold(filepath.Clean(final), filepath.Clean(abs)) {
		return "resolves to " + final + ": a junction or link"
	}
	return ""
}

// CheckFileDescriptor is checkDescriptor for a file's descriptor read from its handle (the
// helper's log): nil when SYSTEM, Administrators or self (this process's account; nil: none
// besides) own it and nobody else is let in. The error completes a sentence that starts with
// the path.
func CheckFileDescriptor(sd *windows.SECURITY_DESCRIPTOR, self *windows.SID) error {
	return checkOwned(sd, false, self)
}

// checkDescriptor accepts a security descriptor owned by SYSTEM or Administrators whose DACL
// lets nobody else in: every entry that allows is for SYSTEM or Administrators, entries that
// deny are fine, and any other kind of entry is refused as not understood. A directory's DACL
// must also be protected from the inheritable entries of its parent. The error completes a
// sentence that starts with the path.
func checkDescriptor(sd *windows.SECURITY_DESCRIPTOR, dir bool) error {
	return checkOwned(sd, dir, nil)
}

// checkOwned is checkDescriptor with self (when not nil) trusted as SYSTEM and Administrators are.
func checkOwned(sd *windows.SECURITY_DESCRIPTOR, dir bool, self *windows.SID) error {
	system, err := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	if err != nil {
		return fmt.Errorf("cannot be checked: %w", err)
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return fmt.Errorf("cannot be checked: %w", err)
	}
	trusted := func(s *windows.SID) bool {
		return s != nil && (s.Equals(system) || s.Equals(admins) || (self != nil && s.Equals(self)))
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return errors.New("has no owner")
	}
	if !trusted(owner) {
		return fmt.Errorf("is owned by %s, not by SYSTEM or Administrators", owner)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return errors.New("has no DACL: anyone may open it")
	}
	if dir {
		control, _, err := sd.Control()
		if err != nil {
			return fmt.Errorf("cannot be checked: %w", err)
		}
		if control&windows.SE_DACL_PROTECTED == 0 {
			return errors.New("inherits entries from its parent (its ACL is not protected)")
		}
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("cannot be checked: reading its ACL: %w", err)
		}
		switch ace.Header.AceType {
		case windows.ACCESS_DENIED_ACE_TYPE:
			continue
		case windows.ACCESS_ALLOWED_ACE_TYPE:
		default:
			return fmt.Errorf("has an ACL entry of type %d that the helper does not check", ace.Header.AceType)
		}
		if sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart)); !trusted(sid) {
			return fmt.Errorf("grants access to %s", sid)
		}
	}
	return nil
}

// volumeNameDOS asks GetFinalPathNameByHandle for a drive-letter path (VOLUME_NAME_DOS, 0).
const volumeNameDOS = 0

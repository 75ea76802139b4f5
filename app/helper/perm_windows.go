package helper

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// DefaultDir is the helper's store: hyp\helper in the ProgramData known folder. The folder
// comes from the known-folder API, not the %ProgramData% variable, which the user who starts
// a command sets.
func DefaultDir() string {
	base, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, windows.KF_FLAG_DEFAULT)
	if err != nil {
		base = `C:\ProgramData` // the system's own default, should the API fail
	}
	return filepath.Join(base, "hyp", "helper")
}

// requireAdmin refuses early unless the process token is elevated.
func requireAdmin(what string) error {
	if !windows.GetCurrentProcessToken().IsElevated() {
		return fmt.Errorf("%s needs an elevated administrator prompt: the helper's store is readable by SYSTEM and Administrators only", what)
	}
	return nil
}

// privateSDDL grants full control to SYSTEM and Administrators only,
// inherited by files and subfolders, and protected (P) from the inheritable
// entries of %ProgramData%, which let every user read.
const privateSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// secureDir makes dir and replaces its DACL with privateSDDL; files created
// in it inherit the DACL.
func secureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the helper store: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(privateSDDL)
	if err != nil {
		return fmt.Errorf("building the helper store ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("building the helper store ACL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("securing the helper store %s: %w", dir, err)
	}
	return nil
}

// checkPrivate accepts a path whose DACL is protected from inheritance and
// grants access only to SYSTEM and Administrators.
func checkPrivate(path string, _ bool) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the ACL of %s: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return fmt.Errorf("%s has no DACL: anyone could read it", path)
	}
	system, _ := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	admins, _ := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("reading the ACL of %s: %w", path, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !sid.Equals(system) && !sid.Equals(admins) {
			return fmt.Errorf("%s grants access to %s: the helper will not use keys others can read (run hyp helper add again to reset the ACL)", path, sid.String())
		}
	}
	return nil
}

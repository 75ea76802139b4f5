package perm

import (
	"fmt"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// trustedInstallerSID is the NT SERVICE\TrustedInstaller account, owner of
// Program Files and the system's own files.
const trustedInstallerSID = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"

// exeWriteMask is what lets a holder change a file or put files beside it: write or append
// (in a directory: add a file, a subdirectory, so a DLL next to hyp.exe), delete, delete a
// child, change the ACL or the owner, and the generic rights that include them.
const exeWriteMask = windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | fileDeleteChild |
	windows.DELETE | windows.WRITE_DAC | windows.WRITE_OWNER | windows.GENERIC_WRITE | windows.GENERIC_ALL

// ancestorWriteMask is what lets a holder of a folder above hyp.exe's own replace what is
// inside it: delete or rename a child, change the ACL or the owner. Adding a file or a folder
// there cannot (every C:\ grants Authenticated Users that, to create folders).
const ancestorWriteMask = fileDeleteChild | windows.DELETE | windows.WRITE_DAC | windows.WRITE_OWNER | windows.GENERIC_ALL

// CheckExecutable refuses to make exe the LocalSystem service unless only SYSTEM,
// Administrators and TrustedInstaller can change it: the file and every folder above it owned
// by one of them, and no ACL entry that lets anyone else write there. hyp.exe run from
// Downloads would give SYSTEM to whoever can replace that file.
//
// Under wine, which keeps no ACLs (every file is owned by the one Unix user, and every process
// runs as it), the check cannot pass and would prove nothing: it is left out there with a note.
// Wine is known by HKLM\Software\Wine, which only an administrator could create on Windows.
func CheckExecutable(exe string, note func(string)) error {
	abs, err := filepath.Abs(exe)
	if err != nil {
		return err
	}
	if underWine() && note != nil {
		note("wine keeps no ACLs: who may change " + abs + " was not checked")
		return nil
	}
	if err := checkFinalPath(abs); err != nil {
		return fmt.Errorf("the helper would run %s as SYSTEM: %w", abs, err)
	}
	for p := abs; ; p = filepath.Dir(p) {
		mask := uint32(exeWriteMask)
		if p != abs && p != filepath.Dir(abs) {
			mask = ancestorWriteMask
		}
		if why := unsafeForSystem(p, mask); why != "" {
			return fmt.Errorf("the helper would run %s as SYSTEM, but %s %s: whoever can write there could replace what SYSTEM runs. "+
				"Install hyp with its MSI (into Program Files), or copy hyp.exe into a folder only administrators may change, and run hyp helper install from there",
				abs, p, why)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// unsafeForSystem says why someone besides SYSTEM, Administrators and TrustedInstaller could
// change path, or "".
func unsafeForSystem(path string, mask uint32) string {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Sprintf("cannot be checked (%v)", err)
	}
	return descriptorLetsOthersWrite(sd, mask)
}

// descriptorLetsOthersWrite says which owner or ACL entry of sd lets an account other than
// SYSTEM, Administrators and TrustedInstaller change the object, or "".
func descriptorLetsOthersWrite(sd *windows.SECURITY_DESCRIPTOR, mask uint32) string {
	system, err1 := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	admins, err2 := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	ti, err3 := windows.StringToSid(trustedInstallerSID)
	if err1 != nil || err2 != nil || err3 != nil {
		return "cannot be checked (well-known SIDs)"
	}
	trusted := func(s *windows.SID) bool { return s != nil && (s.Equals(system) || s.Equals(admins) || s.Equals(ti)) }
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return "has no owner"
	}
	if !trusted(owner) {
		return fmt.Sprintf("is owned by %s (%s), not by SYSTEM, Administrators or TrustedInstaller", owner, accountName(owner))
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return "has no DACL: anyone may change it"
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Sprintf("cannot be checked (reading its ACL: %v)", err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0 {
			continue // denials, and entries only for what is created inside later
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !trusted(sid) && uint32(ace.Mask)&mask != 0 {
			return fmt.Sprintf("lets %s (%s) write to it (access mask %#x)", sid, accountName(sid), ace.Mask)
		}
	}
	return ""
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

// accountName is DOMAIN\name of sid, or "unknown account".
func accountName(sid *windows.SID) string {
	name, domain, _, err := sid.LookupAccount("")
	if err != nil {
		return "unknown account"
	}
	if domain == "" {
		return name
	}
	return domain + `\` + name
}

// fileDeleteChild is FILE_DELETE_CHILD (winnt.h), which x/sys/windows does not name.
const fileDeleteChild = 0x40

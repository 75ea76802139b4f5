package profiles

import (
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// readAccess covers the rights that let a key file be read.
const readAccess = windows.FILE_READ_DATA | windows.GENERIC_READ | windows.GENERIC_ALL

// ReadableByOthers names who besides the file's owner, SYSTEM and Administrators may read path
// ("" when nobody). On Windows the mode bits Go reports (0666 for every file) say nothing: the
// file's ACL does.
func ReadableByOthers(path string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("reading the ACL of %s: %w", path, err)
	}
	return readersBesidesOwner(sd)
}

// readersBesidesOwner lists the accounts sd lets read besides its owner, SYSTEM and
// Administrators.
func readersBesidesOwner(sd *windows.SECURITY_DESCRIPTOR) (string, error) {
	owner, _, err := sd.Owner()
	if err != nil {
		return "", err
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return "everyone (the file has no ACL)", nil
	}
	var who []string
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return "", err
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Mask&readAccess == 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if (owner != nil && sid.Equals(owner)) || sid.IsWellKnown(windows.WinLocalSystemSid) || sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
			continue
		}
		name := sid.String()
		if account, domain, _, err := sid.LookupAccount(""); err == nil {
			name = account
			if domain != "" {
				name = domain + `\` + account
			}
		}
		who = append(who, name)
	}
	return strings.Join(who, ", "), nil
}

// looseKeyFix is the command that makes a key file private.
func looseKeyFix(path string) string {
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r "%%USERNAME%%:F"`, path)
}

// restrictToOwner gives path a protected ACL that admits only the current user, SYSTEM and
// Administrators: a key file hyp writes is private as a 0600 file is elsewhere.
func restrictToOwner(path string) error {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("finding the current user: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(fmt.Sprintf("D:P(A;;FA;;;%s)(A;;FA;;;SY)(A;;FA;;;BA)", u.User.Sid))
	if err != nil {
		return fmt.Errorf("building a private ACL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("building a private ACL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("making %s private: %w", path, err)
	}
	return nil
}

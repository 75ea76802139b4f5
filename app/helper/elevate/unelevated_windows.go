package elevate

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// procAccessCheck is advapi32's AccessCheck, which x/sys/windows does not wrap.
var procAccessCheck = windows.NewLazySystemDLL("advapi32.dll").NewProc("AccessCheck")

// fileGenericMapping is the generic mapping of files (winnt.h FILE_GENERIC_*).
var fileGenericMapping = struct{ read, write, execute, all uint32 }{
	read:    windows.STANDARD_RIGHTS_READ | windows.FILE_READ_DATA | windows.FILE_READ_ATTRIBUTES | windows.FILE_READ_EA | windows.SYNCHRONIZE,
	write:   windows.STANDARD_RIGHTS_WRITE | windows.FILE_WRITE_DATA | windows.FILE_WRITE_ATTRIBUTES | windows.FILE_WRITE_EA | windows.FILE_APPEND_DATA | windows.SYNCHRONIZE,
	execute: windows.STANDARD_RIGHTS_EXECUTE | windows.FILE_READ_ATTRIBUTES | windows.FILE_EXECUTE | windows.SYNCHRONIZE,
	all:     windows.STANDARD_RIGHTS_REQUIRED | windows.SYNCHRONIZE | 0x1ff,
}

// CheckInvokerMayRead refuses path (a profile's secret_file) unless the user behind this
// elevated process could read it unelevated: `hyp helper add` runs elevated, and must not read
// for the user a key file only administrators may read (then knock it at a host of the user's
// choosing). The unelevated token is the one UAC linked to this one; a process that is not
// split (UAC off, the built-in Administrator) has no lesser rights to check with.
func CheckInvokerMayRead(path string) error {
	tok := windows.GetCurrentProcessToken()
	var et, n uint32
	if err := windows.GetTokenInformation(tok, windows.TokenElevationType, (*byte)(unsafe.Pointer(&et)), 4, &n); err != nil {
		return fmt.Errorf("reading this process's elevation: %w", err)
	}
	const tokenElevationTypeFull = 2
	if et != tokenElevationTypeFull {
		return nil
	}
	linked, err := tok.GetLinkedToken()
	if err != nil {
		return fmt.Errorf("finding the unelevated token behind this elevated process: %w", err)
	}
	defer linked.Close()
	ok, err := tokenMayRead(linked, path)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s can be read only with administrator rights, which you lent to hyp helper add, not to the profile: copy the key to a file your own account may read, or pipe the URI in", path)
	}
	return nil
}

// tokenMayRead asks AccessCheck whether tok may read path's data.
func tokenMayRead(tok windows.Token, path string) (bool, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return false, fmt.Errorf("reading the ACL of %s: %w", path, err)
	}
	ok, err := descriptorGrantsRead(tok, sd)
	if err != nil {
		return false, fmt.Errorf("checking who may read %s: %w", path, err)
	}
	return ok, nil
}

// descriptorGrantsRead asks AccessCheck whether sd lets tok read a file's data.
func descriptorGrantsRead(tok windows.Token, sd *windows.SECURITY_DESCRIPTOR) (bool, error) {
	// AccessCheck wants an impersonation token: the linked token of an elevated process is one
	// (identification level, which is enough to check).
	imp := tok
	var dup windows.Token
	if err := windows.DuplicateTokenEx(tok, windows.TOKEN_QUERY, nil, windows.SecurityIdentification, windows.TokenImpersonation, &dup); err == nil {
		defer dup.Close()
		imp = dup
	}
	var privs [64]byte
	privLen := uint32(len(privs))
	var granted, status uint32
	r, _, e := procAccessCheck.Call(uintptr(unsafe.Pointer(sd)), uintptr(imp), uintptr(windows.FILE_READ_DATA),
		uintptr(unsafe.Pointer(&fileGenericMapping)), uintptr(unsafe.Pointer(&privs[0])), uintptr(unsafe.Pointer(&privLen)),
		uintptr(unsafe.Pointer(&granted)), uintptr(unsafe.Pointer(&status)))
	if r == 0 {
		if errors.Is(e, windows.ERROR_SUCCESS) {
			e = errors.New("AccessCheck failed")
		}
		return false, e
	}
	return status != 0, nil
}

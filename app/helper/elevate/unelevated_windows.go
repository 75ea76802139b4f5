package elevate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/hideyourports/hyp/core/keyfile"
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

// ReadKeyFile reads the key file at path (a profile's secret_file) for the user behind this
// elevated process, refusing it unless that user could read it unelevated: `hyp helper add`
// runs elevated, and must not read for the user a key file only administrators may read (then
// knock it at a host of the user's choosing). The file is opened once, without following a
// reparse point at its name (one is refused), its ACL is read from that handle and checked
// against the unelevated token UAC linked to this one, and the key is read from the same
// handle: a junction or link swapped in between a check by name and a read by name would
// have the elevated process read a file of the user's choosing. A process that is not split
// (UAC off, the built-in Administrator) has no lesser rights to check with and reads as itself.
// Errors name the file, never key material.
func ReadKeyFile(path string) (*keyfile.File, error) {
	h, err := openInvokerFile(path)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(h), path)
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, keyfile.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if len(data) > keyfile.MaxSize {
		return nil, fmt.Errorf("key file %s: larger than %d bytes, not a key file", path, keyfile.MaxSize)
	}
	// As keyfile.ReadFile parses: a .toml name is TOML, anything else by its look.
	parse := keyfile.Parse
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		parse = keyfile.ParseTOML
	}
	kf, err := parse(data)
	if err != nil {
		return nil, keyfile.In(path, err)
	}
	return kf, nil
}

// CheckInvokerMayRead is ReadKeyFile's check without the read: it refuses path unless the user
// behind this elevated process could read it unelevated. A read by name after it may find
// another file there (a junction swapped in): read the key with ReadKeyFile, which checks and
// reads one handle.
func CheckInvokerMayRead(path string) error {
	h, err := openInvokerFile(path)
	if err != nil {
		return err
	}
	windows.CloseHandle(h)
	return nil
}

// openInvokerFile opens path for reading without following a reparse point at its name,
// refuses a reparse point or a folder, and refuses the file unless invokerMayRead its
// handle.
func openInvokerFile(path string) (windows.Handle, error) {
	tok, split, err := invokerToken()
	if err != nil {
		return 0, err
	}
	if split {
		defer tok.Close()
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, fmt.Errorf("key file %q: %w", path, err)
	}
	// No FILE_FLAG_BACKUP_SEMANTICS: an administrator's backup privilege must not open what
	// the ACL keeps closed.
	h, err := windows.CreateFile(p, windows.FILE_READ_DATA|windows.FILE_READ_ATTRIBUTES|windows.READ_CONTROL|windows.SYNCHRONIZE,
		windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return 0, fmt.Errorf("reading key file: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	if err := checkInvokerHandle(h, path, tok, split); err != nil {
		windows.CloseHandle(h)
		return 0, err
	}
	return h, nil
}

// checkInvokerHandle refuses the opened file h when it is a reparse point or a folder, or when
// split and tok (the unelevated token) may not read it by the ACL read from h itself.
func checkInvokerHandle(h windows.Handle, path string, tok windows.Token, split bool) error {
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return fmt.Errorf("checking key file %s: %w", path, err)
	}
	switch {
	case info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		return fmt.Errorf("key file %s is a junction or link (a reparse point): hyp helper add reads a key file only where it is, copy the key there", path)
	case info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0:
		return fmt.Errorf("key file %s is a folder", path)
	}
	if !split {
		return nil
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the ACL of %s: %w", path, err)
	}
	ok, err := descriptorGrantsRead(tok, sd)
	if err != nil {
		return fmt.Errorf("checking who may read %s: %w", path, err)
	}
	if !ok {
		return fmt.Errorf("%s can be read only with administrator rights, which you lent to hyp helper add, not to the profile: copy the key to a file your own account may read, or pipe the URI in", path)
	}
	return nil
}

// invokerToken is the unelevated token UAC linked to this elevated one (split), or none when
// this process is not an elevated half of a split token.
func invokerToken() (windows.Token, bool, error) {
	tok := windows.GetCurrentProcessToken()
	var et, n uint32
	if err := windows.GetTokenInformation(tok, windows.TokenElevationType, (*byte)(unsafe.Pointer(&et)), 4, &n); err != nil {
		return 0, false, fmt.Errorf("reading this process's elevation: %w", err)
	}
	const tokenElevationTypeFull = 2
	if et != tokenElevationTypeFull {
		return 0, false, nil
	}
	linked, err := tok.GetLinkedToken()
	if err != nil {
		return 0, false, fmt.Errorf("finding the unelevated token behind this elevated process: %w", err)
	}
	return linked, true, nil
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

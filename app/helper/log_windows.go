package helper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/hideyourports/hyp/app/helper/perm"
)

// openLog opens the service log as LocalSystem without letting a user steer it: its folder
// (ProgramData\hyp, which a standard user may have created first, to own it) gets the private
// owner and ACL of the store before anything is opened in it, a folder that is a junction is
// refused, and the file is opened with FILE_FLAG_OPEN_REPARSE_POINT and refused if it is a
// reparse point, a folder or has other hard links. A log someone else made (a user, before the
// folder was private) is taken over on its handle (takeOverLog). Only then is an overgrown
// log truncated: never at open, which would truncate whatever a link named.
func openLog(path string) (io.WriteCloser, error) {
	sd, err := windows.SecurityDescriptorFromString(perm.PrivateSDDL)
	if err != nil {
		return nil, fmt.Errorf("building the helper log's ACL: %w", err)
	}
	dir := filepath.Dir(path)
	if err := perm.MakePrivate(dir, sd); err != nil {
		return nil, fmt.Errorf("the helper log's folder: %w", err)
	}
	if err := perm.RefuseReparse(dir); err != nil {
		return nil, fmt.Errorf("the helper log's folder: %w", err)
	}
	if err := perm.RefuseReparse(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the helper log: %w", err)
	}
	h, created, err := openLogHandle(path, sd)
	if err != nil {
		return nil, err
	}
	size, err := checkLogHandle(h, path)
	if err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	restart := size > maxLog
	if !created {
		var took bool
		if h, took, err = takeOverLog(h, path, sd); err != nil {
			return nil, err
		}
		restart = restart || took
	}
	f := os.NewFile(uintptr(h), path)
	if restart {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("starting the helper log afresh: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening the helper log: %w", err)
	}
	return f, nil
}

// checkLogHandle refuses an opened log that is a link, a folder, has other names or resolves
// elsewhere, and returns its size.
func checkLogHandle(h windows.Handle, path string) (int64, error) {
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return 0, fmt.Errorf("checking the helper log %s: %w", path, err)
	}
	why := logFileProblem(info)
	if why == "" {
		why = perm.ResolvesElsewhere(h, path)
	}
	if why != "" {
		return 0, fmt.Errorf("the helper log %s %s: remove it (as an administrator) and start the helper again", path, why)
	}
	return int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow), nil
}

// takeOverLog gives an existing log the private owner and ACL when it has others (a
// helper.log a user made in ProgramData\hyp before the helper first ran would keep that
// user's ACL, and its owner could change it back at will). The owner and the protected DACL
// are set on a handle nobody else has open: a handle the user opened before would keep its
// access whatever the new ACL says, so a log still open elsewhere is refused. The user's lines
// go (took: the log starts afresh). The file was checked (checkLogHandle) before anything is
// set on it; h is closed, and the handle to write with is returned.
func takeOverLog(h windows.Handle, path string, sd *windows.SECURITY_DESCRIPTOR) (windows.Handle, bool, error) {
	cur, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		windows.CloseHandle(h)
		return 0, false, fmt.Errorf("reading the ACL of the helper log %s: %w", path, err)
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		windows.CloseHandle(h)
		return 0, false, fmt.Errorf("reading this process's account: %w", err)
	}
	// The helper's own account (LocalSystem) is trusted as SYSTEM is: a log this process made
	// is its own (and wine, where every file is owned by the one user, has no other owner).
	why := perm.CheckFileDescriptor(cur, u.User.Sid)
	if why == nil {
		return h, false, nil
	}
	windows.CloseHandle(h)
	// The folder is private by now: only SYSTEM and Administrators can put another file here
	// between the two opens.
	x, err := openExistingLog(path, 0)
	if errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
		return 0, false, fmt.Errorf("the helper log %s %v, and another process has it open: close that process or remove the file (as an administrator), then start the helper again", path, why)
	}
	if err != nil {
		return 0, false, fmt.Errorf("taking over the helper log %s, which %v: %w", path, why, err)
	}
	if _, err := checkLogHandle(x, path); err != nil {
		windows.CloseHandle(x)
		return 0, false, err
	}
	if err := setPrivate(x, sd); err != nil {
		windows.CloseHandle(x)
		return 0, false, fmt.Errorf("taking over the helper log %s, which %v: %w", path, why, err)
	}
	windows.CloseHandle(x)
	h, err = openExistingLog(path, windows.FILE_SHARE_READ)
	if err != nil {
		return 0, false, fmt.Errorf("opening the helper log %s: %w", path, err)
	}
	if _, err := checkLogHandle(h, path); err != nil {
		windows.CloseHandle(h)
		return 0, false, err
	}
	return h, true, nil
}

// setPrivate sets sd's owner and its DACL, protected from inheritance, on the file h.
func setPrivate(h windows.Handle, sd *windows.SECURITY_DESCRIPTOR) error {
	owner, _, err := sd.Owner()
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetSecurityInfo(h, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		owner, nil, dacl, nil)
}

// logAccess is what the helper needs of its log: append, truncate, and reset its owner and ACL.
const logAccess = windows.FILE_APPEND_DATA | windows.FILE_WRITE_DATA | windows.FILE_READ_ATTRIBUTES | windows.SYNCHRONIZE |
	windows.READ_CONTROL | windows.WRITE_DAC | windows.WRITE_OWNER

// logFlags open the log itself, never what a reparse point names.
const logFlags = windows.FILE_ATTRIBUTE_NORMAL | windows.FILE_FLAG_OPEN_REPARSE_POINT

// openLogHandle opens an existing log without following a reparse point, or creates a new one
// with the private descriptor (created); CREATE_NEW fails rather than follow a name that
// appeared meanwhile (a link made between the two opens).
func openLogHandle(path string, sd *windows.SECURITY_DESCRIPTOR) (windows.Handle, bool, error) {
	h, err := openExistingLog(path, windows.FILE_SHARE_READ)
	if err == nil {
		return h, false, nil
	}
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return 0, false, fmt.Errorf("opening the helper log %s: %w: its ACL keeps the helper out (someone else made it): remove it (as an administrator) and start the helper again", path, err)
	}
	if !errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return 0, false, fmt.Errorf("opening the helper log %s: %w", path, err)
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, false, err
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	h, err = windows.CreateFile(p, logAccess, windows.FILE_SHARE_READ, sa, windows.CREATE_NEW, logFlags, 0)
	if err != nil {
		return 0, false, fmt.Errorf("opening the helper log %s: %w", path, err)
	}
	return h, true, nil
}

// openExistingLog opens the log that is there, sharing it as share says.
func openExistingLog(path string, share uint32) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(p, logAccess, share, nil, windows.OPEN_EXISTING, logFlags, 0)
}

// logFileProblem says why an opened log file is not one to write as SYSTEM, or "".
func logFileProblem(info windows.ByHandleFileInformation) string {
	switch {
	case info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		return "is a junction or link (a reparse point)"
	case info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0:
		return "is a folder"
	case info.NumberOfLinks > 1:
		return fmt.Sprintf("has %d hard links: another name could be a file elsewhere", info.NumberOfLinks)
	}
	return ""
}

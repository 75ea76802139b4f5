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
// reparse point, a folder or has other hard links. Only then is an overgrown log truncated:
// never at open, which would truncate whatever a link named.
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
	h, err := openLogHandle(path, sd)
	if err != nil {
		return nil, err
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("checking the helper log %s: %w", path, err)
	}
	why := logFileProblem(info)
	if why == "" {
		why = perm.ResolvesElsewhere(h, path)
	}
	if why != "" {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("the helper log %s %s: remove it (as an administrator) and start the helper again", path, why)
	}
	f := os.NewFile(uintptr(h), path)
	size := int64(info.FileSizeHigh)<<32 | int64(info.FileSizeLow)
	if size > maxLog {
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

// openLogHandle opens an existing log without following a reparse point, or creates a new one
// with the private descriptor; CREATE_NEW fails rather than follow a name that appeared
// meanwhile (a link made between the two opens).
func openLogHandle(path string, sd *windows.SECURITY_DESCRIPTOR) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	const access = windows.FILE_APPEND_DATA | windows.FILE_WRITE_DATA | windows.FILE_READ_ATTRIBUTES | windows.SYNCHRONIZE
	const flags = windows.FILE_ATTRIBUTE_NORMAL | windows.FILE_FLAG_OPEN_REPARSE_POINT
	h, err := windows.CreateFile(p, access, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, flags, 0)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		h, err = windows.CreateFile(p, access, windows.FILE_SHARE_READ, sa, windows.CREATE_NEW, flags, 0)
	}
	if err != nil {
		return 0, fmt.Errorf("opening the helper log %s: %w", path, err)
	}
	return h, nil
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

//go:build linux && (amd64 || arm64)

package elevate

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AsUser runs fn with the file-system rights of uid, gid and groups instead
// of root's: on a thread of its own whose credentials are dropped with the
// raw per-thread system calls (syscall.Setresuid would change every thread
// of the process). The thread is never unlocked, so it ends with fn and no
// other goroutine ever runs with the user's credentials; Go starts new
// threads from a clean template thread while one is locked. fn must do its
// file access on the calling goroutine.
func AsUser(uid, gid int, groups []int, fn func() error) error {
	if uid < 0 || gid < 0 {
		return fmt.Errorf("running as uid %d gid %d: not a user", uid, gid)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately no UnlockOSThread: the thread dies with this goroutine.
		if err := dropThread(uid, gid, groups); err != nil {
			done <- fmt.Errorf("taking the rights of uid %d: %w", uid, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

func dropThread(uid, gid int, groups []int) error {
	gids := make([]uint32, 0, len(groups))
	for _, g := range groups {
		gids = append(gids, uint32(g))
	}
	var p unsafe.Pointer
	if len(gids) > 0 {
		p = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	return nil
}

package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has joined the network namespace open as fd (0: the current
// one, fn runs directly). The thread returns to its original namespace afterwards, or, if that
// fails, is left locked so that the runtime retires it instead of reusing it in the wrong one.
func Do(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening this thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering network namespace fd %d: %w", fd, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("returning to the original network namespace: %w", err))
			return // still locked: the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// Join moves the calling goroutine's OS thread into the network namespace open as fd for good,
// for a goroutine that lives there (a netlink watcher): the thread stays locked, so the runtime
// retires it when the goroutine ends instead of reusing it in the wrong namespace.
func Join(fd int) error {
	runtime.LockOSThread()
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering network namespace fd %d: %w", fd, err)
	}
	return nil
}

// DoNamed is Do for a namespace made by `ip netns add name` (/run/netns/name).
func DoNamed(name string, fn func() error) error {
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	defer f.Close()
	if err := Do(int(f.Fd()), fn); err != nil {
		return fmt.Errorf("in network namespace %s: %w", name, err)
	}
	return nil
}

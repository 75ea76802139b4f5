//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Lock makes hypd one instance per network namespace and table. It is a listening socket in the
// abstract unix namespace: that namespace belongs to the network namespace, which is exactly the
// scope of the nftables table and the XDP attachments hypd owns, and the kernel releases the
// name when the process dies however it dies, so a kill -9 leaves no stale lock behind. A second
// hypd checks it before it touches the kernel.
type Lock struct {
	ln   *net.UnixListener
	done chan struct{}
	once sync.Once
}

// lockName is the abstract socket name for table (Go spells the abstract namespace with '@').
func lockName(table string) string { return "@hyp/hypd/" + table }

// RunningError says that another hypd holds the lock.
type RunningError struct {
	Table string
	PID   int // 0 when it could not be found out
}

func (e *RunningError) Error() string {
	who := "another hypd"
	if e.PID > 0 {
		who = fmt.Sprintf("another hypd (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s already runs the gateway of table inet %s in this network namespace; nothing was changed (stop it first: hypd stop, or systemctl stop hypd)", who, e.Table)
}

// AcquireLock takes the instance lock for table, or returns a *RunningError naming the holder.
func AcquireLock(table string) (*Lock, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: lockName(table), Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			pid, _, _ := LockHolder(table)
			return nil, &RunningError{Table: table, PID: pid}
		}
		return nil, fmt.Errorf("taking the instance lock: %w", err)
	}
	l := &Lock{ln: ln, done: make(chan struct{})}
	// Accepting lets LockHolder learn the holder's pid from the connection's peer credentials.
	go func() {
		defer close(l.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, nil
}

// Close releases the lock.
func (l *Lock) Close() error {
	var err error
	l.once.Do(func() {
		err = l.ln.Close()
		<-l.done
	})
	if err != nil {
		return fmt.Errorf("releasing the instance lock: %w", err)
	}
	return nil
}

// LockHolder reports whether a hypd holds the lock for table in this network namespace, and its
// pid when the kernel tells (SO_PEERCRED).
func LockHolder(table string) (pid int, held bool, err error) {
	c, err := net.DialTimeout("unix", lockName(table), time.Second)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("checking for a running hypd: %w", err)
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, true, nil
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cred == nil {
		return 0, true, nil
	}
	return int(cred.Pid), true, nil
}

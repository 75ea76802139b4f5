package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// Buffer collects a process's output; it is safe to write and read at once.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Process is a program running inside a namespace, with its output collected.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *Buffer
	done chan struct{}
	err  error // Wait's result; read only after done is closed
}

// Start runs a program inside the namespace. Its stdout and stderr go to one Buffer. The kernel
// kills it if the calling process dies first, so a crashed test leaves no daemon behind.
func (n *NS) Start(name string, args ...string) (*Process, error) {
	c := n.Command(context.Background(), name, args...)
	out := &Buffer{}
	c.Stdout, c.Stderr = out, out
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("starting %s in %s: %w", name, n.Name, err)
	}
	p := &Process{Name: name, cmd: c, out: out, done: make(chan struct{})}
	go func() {
		p.err = c.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the program's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output is everything the program has written so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the program has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// WaitOutput waits until the program's output contains s. It fails if the program exits first
// or timeout passes.
func (p *Process) WaitOutput(s string, timeout time.Duration) error {
	exited := false
	waitfor.Until(timeout, func() bool {
		select {
		case <-p.done:
			exited = true
		default:
		}
		return exited || strings.Contains(p.Output(), s)
	})
	switch {
	case strings.Contains(p.Output(), s):
		return nil
	case exited:
		return fmt.Errorf("%s exited (%v) before writing %q; output:\n%s", p.Name, p.err, s, p.Output())
	}
	return fmt.Errorf("%s did not write %q within %v; output:\n%s", p.Name, s, timeout, p.Output())
}

// Signal sends sig to the program.
func (p *Process) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling %s: %w", p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL and waits for the program to be gone.
func (p *Process) Kill() error {
	err := p.Signal(syscall.SIGKILL)
	<-p.done
	return err
}

// Stop asks the program to end (SIGTERM), and kills it if it has not ended within grace. It
// returns the program's exit error for a clean stop, so a daemon that fails on SIGTERM is seen.
func (p *Process) Stop(grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = p.Kill()
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.Name, grace)
	}
}

// CPU is the processor time the program has used so far, user plus system, all threads, from
// /proc/PID/stat.
func (p *Process) CPU() (time.Duration, error) { return CPUTime(p.PID()) }

// userHZ is the unit of the times in /proc/PID/stat: USER_HZ, 100 on every Linux architecture
// (the kernel converts to it precisely so that userspace can rely on it).
const userHZ = 100

// CPUTime reads utime+stime of a process from /proc/PID/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading CPU time of pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces; count after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name, want at least 13", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// StartHypd runs `hypd run ARGS...` in the namespace and waits until it reports that it runs.
func (n *NS) StartHypd(hypd string, args ...string) (*Process, error) {
	p, err := n.Start(hypd, append([]string{"run"}, args...)...)
	if err != nil {
		return nil, err
	}
	p.Name = "hypd"
	if err := p.WaitOutput("hypd running", 15*time.Second); err != nil {
		return nil, errors.Join(err, p.Kill())
	}
	return p, nil
}

package helperipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The named pipe, on x/sys/windows alone: overlapped I/O waited for on an
// event per operation, with deadlines as wait timeouts. go-winio's pipes,
// built on an I/O completion port, never complete an accept under wine 8,
// where the Windows stage of CI runs; an event per operation works there and
// on Windows alike.

const pipeBuffer = 64 << 10

// pipeAddr is a pipe name as a net.Addr.
type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// pipeListener hands out connected pipe instances. One instance always waits
// for the next client, so a client never finds the name missing between two
// accepts (which it would take for "no helper").
type pipeListener struct {
	name   string
	sa     *windows.SecurityAttributes
	closed windows.Handle // manual-reset event, set by Close

	mu      sync.Mutex // guards pending and done
	pending windows.Handle
	done    bool
	// accepting counts Accepts in flight: Close waits for them before it
	// closes the handle they use.
	accepting sync.WaitGroup
}

func listenPipe(name, sddl string) (*pipeListener, error) {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("the pipe's ACL %q: %w", sddl, err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	closed, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, err
	}
	l := &pipeListener{name: name, sa: sa, closed: closed}
	// The first instance is created with FILE_FLAG_FIRST_PIPE_INSTANCE:
	// if anyone else already owns the name (another helper, or a process
	// squatting on it to catch the tray's requests), listening fails.
	if l.pending, err = l.instance(true); err != nil {
		windows.CloseHandle(closed)
		return nil, err
	}
	return l, nil
}

func (l *pipeListener) instance(first bool) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(l.name)
	if err != nil {
		return 0, err
	}
	flags := uint32(windows.PIPE_ACCESS_DUPLEX | windows.FILE_FLAG_OVERLAPPED)
	if first {
		flags |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE | windows.PIPE_WAIT | windows.PIPE_REJECT_REMOTE_CLIENTS)
	h, err := windows.CreateNamedPipe(name, flags, mode, windows.PIPE_UNLIMITED_INSTANCES, pipeBuffer, pipeBuffer, 0, l.sa)
	if err != nil {
		if first && errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return 0, fmt.Errorf("%s is taken by another process (another helper?): %w", l.name, err)
		}
		return 0, fmt.Errorf("creating the pipe %s: %w", l.name, err)
	}
	return h, nil
}

// Accept waits for a client on the pending instance and makes the next one.
func (l *pipeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	h, done := l.pending, l.done
	if !done {
		l.accepting.Add(1)
	}
	l.mu.Unlock()
	if done {
		return nil, net.ErrClosed
	}
	defer l.accepting.Done()
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, err
	}
	defer windows.CloseHandle(ev)
	ov := &windows.Overlapped{HEvent: ev}
	err = windows.ConnectNamedPipe(h, ov)
	switch {
	case err == nil, errors.Is(err, windows.ERROR_PIPE_CONNECTED):
	case errors.Is(err, windows.ERROR_IO_PENDING):
		which, werr := windows.WaitForMultipleObjects([]windows.Handle{ev, l.closed}, false, windows.INFINITE)
		if werr != nil || which != windows.WAIT_OBJECT_0 {
			windows.CancelIoEx(h, ov)
			var n uint32
			windows.GetOverlappedResult(h, ov, &n, true)
			return nil, net.ErrClosed
		}
		var n uint32
		if err := windows.GetOverlappedResult(h, ov, &n, false); err != nil {
			return nil, l.replace(fmt.Errorf("accepting on %s: %w", l.name, err))
		}
	default:
		return nil, l.replace(fmt.Errorf("accepting on %s: %w", l.name, err))
	}
	next, err := l.instance(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// The connected client is served; the next Accept fails.
		l.pending = 0
		l.done = true
		return newPipeConn(h, pipeAddr(l.name)), nil
	}
	l.pending = next
	return newPipeConn(h, pipeAddr(l.name)), nil
}

// replace drops a broken pending instance for a fresh one; err is returned
// as a temporary error so Serve goes on.
func (l *pipeListener) replace(err error) error {
	next, nerr := l.instance(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	windows.CloseHandle(l.pending)
	if nerr != nil {
		l.pending, l.done = 0, true
		return nerr
	}
	l.pending = next
	return err
}

// Close stops Accept, waits for it to return, and closes the pending
// instance.
func (l *pipeListener) Close() error {
	l.mu.Lock()
	if l.done && l.pending == 0 {
		l.mu.Unlock()
		return nil
	}
	l.done = true
	windows.SetEvent(l.closed)
	l.mu.Unlock()
	l.accepting.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending != 0 {
		windows.CloseHandle(l.pending)
		l.pending = 0
	}
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.name) }

// dialAccess is what a client asks of the pipe: read (READ_CONTROL included, which
// checkServer needs to read the pipe's owner) and write data. Not GENERIC_WRITE: on a pipe it
// includes FILE_APPEND_DATA, which is FILE_CREATE_PIPE_INSTANCE, and PipeSDDL keeps that from
// interactive users, so such an open is denied to every standard user.
const dialAccess = windows.FILE_GENERIC_READ | windows.FILE_WRITE_DATA

// dialPipe opens the pipe, waiting while every instance is busy.
func dialPipe(ctx context.Context, name string) (net.Conn, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	for {
		// SECURITY_IDENTIFICATION: the helper may learn who we are, not
		// act as us.
		h, err := windows.CreateFile(p, dialAccess, 0, nil, windows.OPEN_EXISTING,
			windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
		if err == nil {
			return newPipeConn(h, pipeAddr(name)), nil
		}
		if !errors.Is(err, windows.ERROR_PIPE_BUSY) {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("every instance of %s stayed busy: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pipeConn is one end of a connected pipe.
type pipeConn struct {
	h    windows.Handle
	addr pipeAddr
	rd   pipeDeadline // read side
	wr   pipeDeadline // write side

	mu     sync.Mutex // guards closed
	closed bool
	// ops counts reads and writes in flight: Close cancels them and waits
	// for them to end before it closes the handles they use.
	ops sync.WaitGroup
}

// pipeDeadline is one direction's deadline; wake (auto-reset) tells an
// operation waiting on that side that the deadline moved.
type pipeDeadline struct {
	mu   sync.Mutex // guards at
	at   time.Time
	wake windows.Handle
}

func (d *pipeDeadline) set(t time.Time) {
	d.mu.Lock()
	d.at = t
	d.mu.Unlock()
	windows.SetEvent(d.wake)
}

func (d *pipeDeadline) get() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at
}

func newPipeConn(h windows.Handle, addr pipeAddr) *pipeConn {
	c := &pipeConn{h: h, addr: addr}
	c.rd.wake, _ = windows.CreateEvent(nil, 0, 0, nil)
	c.wr.wake, _ = windows.CreateEvent(nil, 0, 0, nil)
	return c
}

// Fd is the pipe's handle (the server asks it for the client's process).
func (c *pipeConn) Fd() uintptr { return uintptr(c.h) }

// do runs one overlapped read or write and waits for it, its deadline, or
// Close.
func (c *pipeConn) do(d *pipeDeadline, b []byte, start func(windows.Handle, []byte, *uint32, *windows.Overlapped) error) (int, error) {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.ops.Add(1)
	}
	c.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	defer c.ops.Done()
	if at := d.get(); !at.IsZero() && !time.Now().Before(at) {
		return 0, os.ErrDeadlineExceeded
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return 0, err
	}
	defer windows.CloseHandle(ev)
	ov := &windows.Overlapped{HEvent: ev}
	var n uint32
	err = start(c.h, b, &n, ov)
	if err != nil && !errors.Is(err, windows.ERROR_IO_PENDING) {
		return int(n), c.ioErr(err)
	}
	for {
		wait := uint32(windows.INFINITE)
		if at := d.get(); !at.IsZero() {
			left := time.Until(at)
			if left <= 0 {
				windows.CancelIoEx(c.h, ov)
				windows.GetOverlappedResult(c.h, ov, &n, true)
				return int(n), os.ErrDeadlineExceeded
			}
			wait = uint32(left.Milliseconds()) + 1
		}
		which, werr := windows.WaitForMultipleObjects([]windows.Handle{ev, d.wake}, false, wait)
		if werr != nil {
			windows.CancelIoEx(c.h, ov)
			windows.GetOverlappedResult(c.h, ov, &n, true)
			return int(n), werr
		}
		if which == windows.WAIT_OBJECT_0 {
			break
		}
		// The deadline moved (or timed out): look again.
	}
	if err := windows.GetOverlappedResult(c.h, ov, &n, false); err != nil {
		return int(n), c.ioErr(err)
	}
	return int(n), nil
}

func (c *pipeConn) ioErr(err error) error {
	switch {
	case errors.Is(err, windows.ERROR_BROKEN_PIPE), errors.Is(err, windows.ERROR_PIPE_NOT_CONNECTED), errors.Is(err, windows.ERROR_NO_DATA):
		return io.EOF
	case errors.Is(err, windows.ERROR_OPERATION_ABORTED):
		return net.ErrClosed
	}
	return err
}

func (c *pipeConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	return c.do(&c.rd, b, windows.ReadFile)
}

func (c *pipeConn) Write(b []byte) (int, error) {
	total := 0
	for total < len(b) {
		n, err := c.do(&c.wr, b[total:], windows.WriteFile)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close cancels what is pending on the pipe, waits for it to end, and
// closes the pipe. No FlushFileBuffers: it would wait for a peer that never
// reads; what was written stays readable after the close.
func (c *pipeConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	windows.CancelIoEx(c.h, nil) // each pending operation ends with ERROR_OPERATION_ABORTED
	c.ops.Wait()
	err := windows.CloseHandle(c.h)
	windows.CloseHandle(c.rd.wake)
	windows.CloseHandle(c.wr.wake)
	return err
}

func (c *pipeConn) LocalAddr() net.Addr  { return c.addr }
func (c *pipeConn) RemoteAddr() net.Addr { return c.addr }

func (c *pipeConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wr.set(t)
	return nil
}

func (c *pipeConn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *pipeConn) SetWriteDeadline(t time.Time) error { c.wr.set(t); return nil }

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/netns"
)

// nsDialer connects from one goroutine whose OS thread joined a namespace once, for good. Every
// knock-to-open time ends in a connect, so the connect must cost as little as a client's own
// would: switching a fresh thread into the namespace for each try (netlab's Dial) added about a
// tenth of a millisecond to every measurement, more than hypd's own share of some.
type nsDialer struct {
	jobs chan func()
}

// newNSDialer starts the dialer in the namespace made by `ip netns add name`; Close ends it.
func newNSDialer(name string) (*nsDialer, error) {
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", name, err)
	}
	d := &nsDialer{jobs: make(chan func())}
	started := make(chan error, 1)
	go func() {
		// The thread stays locked in the namespace; the runtime retires it when this ends.
		err := netns.Join(int(f.Fd()))
		f.Close()
		started <- err
		if err != nil {
			return
		}
		for job := range d.jobs {
			job()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return d, nil
}

// Close ends the dialer's goroutine.
func (d *nsDialer) Close() { close(d.jobs) }

// probeEvery is how often opens tries a new connect while none has succeeded: the resolution of
// every knock-to-open time. A try whose SYN arrived before the grant is dropped, unanswered, and
// its own retransmission would come a second later, so tries overlap: a new one every
// probeEvery, each given maxTryAge to be answered, at most maxTries at once.
const (
	probeEvery = 50 * time.Microsecond
	maxTryAge  = 5 * time.Millisecond
	maxTries   = 128
)

// opens measures how long until a TCP connect from src to to succeeds, starting now: a new
// non-blocking connect every probeEvery until one completes or timeout passes (ok false). It
// runs on the dialer's thread, in the namespace.
func (d *nsDialer) opens(to netip.AddrPort, src netip.Addr, timeout time.Duration) (took time.Duration, ok bool, err error) {
	done := make(chan struct{})
	d.jobs <- func() {
		defer close(done)
		took, ok, err = probe(to, src, timeout)
	}
	<-done
	return took, ok, err
}

type try struct {
	fd    int
	since time.Time
}

func probe(to netip.AddrPort, src netip.Addr, timeout time.Duration) (time.Duration, bool, error) {
	t0 := time.Now()
	var tries []try
	defer func() {
		for _, t := range tries {
			unix.Close(t.fd)
		}
	}()
	sa := &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	local := &unix.SockaddrInet4{Addr: src.As4()}
	fds := make([]unix.PollFd, 0, maxTries)
	next := t0
	for {
		now := time.Now()
		if now.Sub(t0) > timeout {
			return 0, false, nil
		}
		// Forget tries too old to be answered; start a new one when it is time.
		kept := tries[:0]
		for _, t := range tries {
			if now.Sub(t.since) > maxTryAge {
				unix.Close(t.fd)
				continue
			}
			kept = append(kept, t)
		}
		tries = kept
		if !now.Before(next) && len(tries) < maxTries {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return 0, false, fmt.Errorf("opening a socket: %w", err)
			}
			if err := unix.Bind(fd, local); err != nil {
				unix.Close(fd)
				return 0, false, fmt.Errorf("binding %v: %w", src, err)
			}
			if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
				unix.Close(fd)
				return 0, false, fmt.Errorf("connecting to %v: %w", to, err)
			}
			tries = append(tries, try{fd, now})
			next = now.Add(probeEvery)
		}
		fds = fds[:0]
		for _, t := range tries {
			fds = append(fds, unix.PollFd{Fd: int32(t.fd), Events: unix.POLLOUT})
		}
		// Sleep until a try is answered or the next is due: not a busy loop, which would take one
		// of the machine's cores from the gateway being measured.
		wait := max(time.Until(next), time.Microsecond)
		ts := unix.NsecToTimespec(wait.Nanoseconds())
		n, err := unix.Ppoll(fds, &ts, nil)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return 0, false, fmt.Errorf("poll: %w", err)
		}
		if n <= 0 {
			continue
		}
		for _, p := range fds {
			if p.Revents == 0 {
				continue
			}
			soErr, err := unix.GetsockoptInt(int(p.Fd), unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && soErr == 0 && p.Revents&unix.POLLOUT != 0 {
				return time.Since(t0), true, nil
			}
		}
		// A try that failed outright (refused, unreachable) is dropped; the next one follows.
		kept = tries[:0]
		for i, t := range tries {
			if fds[i].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				unix.Close(t.fd)
				continue
			}
			kept = append(kept, t)
		}
		tries = kept
	}
}

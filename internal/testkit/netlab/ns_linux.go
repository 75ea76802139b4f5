package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/netns"
)

// NS is one named network namespace (ip netns).
type NS struct {
	Name string
}

// Do runs fn on an OS thread that has joined the namespace. Sockets fn opens belong to the
// namespace for their whole life, whichever thread uses them later; everything else fn does is
// ordinary Go. The thread goes back to its original namespace afterwards, or, if that fails, is
// left locked so that the runtime discards it instead of reusing it in the wrong namespace.
func (n *NS) Do(fn func() error) error { return netns.DoNamed(n.Name, fn) }

// Dial connects from inside the namespace. A valid local address binds the source address, as a
// host with several addresses would choose one.
func (n *NS) Dial(ctx context.Context, network string, to netip.AddrPort, local netip.Addr) (net.Conn, error) {
	var d net.Dialer
	if local.IsValid() {
		switch network {
		case "udp", "udp4", "udp6":
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
		default:
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
		}
	}
	var c net.Conn
	err := n.Do(func() error {
		var err error
		c, err = d.DialContext(ctx, network, to.String())
		return err
	})
	return c, err
}

// Listen opens a listening socket inside the namespace.
func (n *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// ListenPacket opens a datagram socket inside the namespace.
func (n *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// Command returns a command that runs inside the namespace (through ip netns exec, which execs
// the program itself, so the command's pid is the program's).
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Output runs a command inside the namespace and returns its standard output; the error carries
// its standard error.
func (n *NS) Output(name string, args ...string) ([]byte, error) {
	c := n.Command(context.Background(), name, args...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return out, fmt.Errorf("in %s: %s %s: %w: %s", n.Name, name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// IPBatch runs ip commands (without the leading "ip") inside the namespace in one ip process:
// adding a thousand addresses one exec at a time takes seconds.
func (n *NS) IPBatch(cmds ...string) error { return ipBatch(n.Name, cmds...) }

// ServeEcho echoes every connection ln accepts back to its sender until ln is closed: the
// protected service of a lab, over which a test can prove data flows after a grant.
func ServeEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// Open opens the namespace's file, for what takes a namespace by descriptor (a firewall's or a
// detector's Config.NetNS, netns.Do). The caller closes it.
func (n *NS) Open() (*os.File, error) {
	f, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", n.Name, err)
	}
	return f, nil
}

// Veth joins two namespaces with a veth pair, aIf in a and bIf in b, both down and without
// addresses. Deleting either namespace deletes the pair.
func Veth(a *NS, aIf string, b *NS, bIf string) error {
	return ip("link", "add", "name", aIf, "netns", a.Name, "type", "veth", "peer", "name", bIf, "netns", b.Name)
}

// Add makes a namespace named name with its loopback up; Remove deletes it.
func Add(name string) (*NS, error) {
	if err := ip("netns", "add", name); err != nil {
		return nil, err
	}
	n := &NS{Name: name}
	if err := ipBatch(name, "link set lo up"); err != nil {
		return nil, errors.Join(err, n.Remove())
	}
	return n, nil
}

// Remove deletes the namespace, and with it every interface inside, and the instance lock file
// a hypd made for it (hypd names it by the namespace's inode; a hypd killed by the test leaves it
// in /run/hyp/lock, where it would stay until the host reboots).
func (n *NS) Remove() error {
	var st unix.Stat_t
	statErr := unix.Stat("/run/netns/"+n.Name, &st)
	if err := ip("netns", "del", n.Name); err != nil {
		return err
	}
	if statErr == nil {
		removeUnheldLocks(fmt.Sprintf("/run/hyp/lock/*-net%d.lock", st.Ino))
	}
	return nil
}

// removeUnheldLocks removes the lock files matching pattern that no process holds.
func removeUnheldLocks(pattern string) {
	names, _ := filepath.Glob(pattern)
	for _, name := range names {
		f, err := os.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(name)
		}
		f.Close()
	}
}

// Temp is Add for a test: the namespace is removed when the test ends, whatever its outcome,
// and a failure to make it fails the test.
func Temp(t testing.TB, name string) *NS {
	t.Helper()
	n, err := Add(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Remove(); err != nil {
			t.Errorf("removing the test's namespace: %v", err)
		}
	})
	return n
}

// Run runs a command inside the namespace and returns its output, failing t with the command's
// words when it fails.
func (n *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s %s: %v: %s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

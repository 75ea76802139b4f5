package netlab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Iface is the name of every host's interface into the lab, in its own namespace. The names do
// not clash because each host has its own namespace; the switch namespace names its ports after
// the hosts.
const Iface = "eth0"

// Lab is one throwaway network: hosts gateway (10.77.N.1, fd77:N::1), client (10.77.N.2 and a
// second address 10.77.N.3, fd77:N::2) and attacker (10.77.N.4, fd77:N::4) on one bridge.
type Lab struct {
	Name                              string // prefix of every namespace name
	N                                 int    // third octet of the IPv4 addresses
	Switch, Gateway, Client, Attacker *NS
}

// Host numbers inside 10.77.N.0/24 and fd77:N::/64.
const (
	hostGateway  = 1
	hostClient   = 2
	hostClient2  = 3
	hostAttacker = 4
)

// New makes the namespaces, the bridge and the veth pairs. name prefixes the namespace names and
// must be unique among running labs (put the pid in it); n (0..255) picks the subnet. On error
// everything already made is removed again.
func New(name string, n int) (*Lab, error) {
	if n < 0 || n > 255 {
		return nil, fmt.Errorf("lab %s: subnet number %d out of range 0..255", name, n)
	}
	l := &Lab{Name: name, N: n}
	if err := l.build(); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

func (l *Lab) build() error {
	name := l.Name
	for _, ns := range []**NS{&l.Switch, &l.Gateway, &l.Client, &l.Attacker} {
		suffix := map[**NS]string{&l.Switch: "sw", &l.Gateway: "gw", &l.Client: "cl", &l.Attacker: "at"}[ns]
		nsName := name + "-" + suffix
		if err := ip("netns", "add", nsName); err != nil {
			return err
		}
		*ns = &NS{Name: nsName}
	}
	sw := l.Switch.Name
	if err := ipBatch(sw,
		"link add br0 type bridge",
		"link set br0 up",
		"link set lo up",
	); err != nil {
		return err
	}
	hosts := []struct {
		ns    *NS
		port  string
		addrs []int
	}{
		{l.Gateway, "gw", []int{hostGateway}},
		{l.Client, "cl", []int{hostClient, hostClient2}},
		{l.Attacker, "at", []int{hostAttacker}},
	}
	for _, h := range hosts {
		if err := ipBatch(sw,
			fmt.Sprintf("link add %s type veth peer name %s netns %s", h.port, Iface, h.ns.Name),
			fmt.Sprintf("link set %s master br0", h.port),
			fmt.Sprintf("link set %s up", h.port),
		); err != nil {
			return err
		}
		cmds := []string{"link set lo up", "link set " + Iface + " up"}
		for _, a := range h.addrs {
			cmds = append(cmds, fmt.Sprintf("addr add %s/24 dev %s", l.v4(a), Iface))
		}
		// nodad: the address is usable at once instead of after a second of duplicate detection.
		cmds = append(cmds, fmt.Sprintf("addr add %s/64 dev %s nodad", l.v6(h.addrs[0]), Iface))
		if err := ipBatch(h.ns.Name, cmds...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) v4(host int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 77, byte(l.N), byte(host)})
}

func (l *Lab) v6(host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd77:%x::%x", l.N, host))
}

// GatewayIP and the others are the hosts' addresses.
func (l *Lab) GatewayIP() netip.Addr   { return l.v4(hostGateway) }
func (l *Lab) ClientIP() netip.Addr    { return l.v4(hostClient) }
func (l *Lab) ClientIP2() netip.Addr   { return l.v4(hostClient2) }
func (l *Lab) AttackerIP() netip.Addr  { return l.v4(hostAttacker) }
func (l *Lab) GatewayIP6() netip.Addr  { return l.v6(hostGateway) }
func (l *Lab) ClientIP6() netip.Addr   { return l.v6(hostClient) }
func (l *Lab) AttackerIP6() netip.Addr { return l.v6(hostAttacker) }

// MAC is the hardware address of a host's lab interface.
func (n *NS) MAC() (string, error) {
	out, err := n.Output("cat", "/sys/class/net/"+Iface+"/address")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Close deletes the namespaces. Deleting a namespace destroys its veth ends, and with them their
// peers, so nothing else is left; processes still running inside keep only their own sockets.
func (l *Lab) Close() error {
	var errs []error
	for _, ns := range []*NS{l.Attacker, l.Client, l.Gateway, l.Switch} {
		if ns == nil {
			continue
		}
		if err := ns.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveStale deletes namespaces left behind by a lab whose process died before it could clean
// up: names that start with prefix followed by the pid of a process that no longer exists.
func RemoveStale(prefix string) error {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("listing network namespaces: %w", err)
	}
	var errs []error
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pidText); err == nil {
			continue // its owner still runs
		}
		if err := ip("netns", "del", e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ip runs the ip command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ipBatch runs ip commands in namespace ns, one process for all of them.
func ipBatch(ns string, cmds ...string) error {
	c := exec.Command("ip", "-n", ns, "-batch", "-")
	c.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s -batch [%s]: %w: %s", ns, strings.Join(cmds, "; "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

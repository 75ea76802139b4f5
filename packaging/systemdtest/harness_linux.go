//go:build nspawn && linux

package systemdtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// Env is what the tests need from the machine, from the environment.
type Env struct {
	Root string // HYP_NSPAWN_ROOT: the cached Debian root
	Bin  string // HYP_BIN: directory holding hyp and hypd for this machine
	Dist string // HYP_DIST: directory holding the .deb packages ("" if not built)
}

// LoadEnv reads Env and fails the test with what is missing.
func LoadEnv(t testing.TB) Env {
	t.Helper()
	needs.Root(t, "boots containers with systemd-nspawn")
	e := Env{Root: os.Getenv("HYP_NSPAWN_ROOT"), Bin: os.Getenv("HYP_BIN"), Dist: os.Getenv("HYP_DIST")}
	if e.Root == "" || e.Bin == "" {
		t.Fatal("set HYP_NSPAWN_ROOT (see packaging/test/rootfs.sh) and HYP_BIN (the directory of bin/hypd); .ci/stages/30-systemd.sh does")
	}
	for _, p := range []string{filepath.Join(e.Root, "usr/lib/systemd/systemd"), filepath.Join(e.Bin, "hypd"), filepath.Join(e.Bin, "hyp")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("missing %s: %v", p, err)
		}
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("missing %s on the host (apt install systemd-container util-linux iproute2)", tool)
		}
	}
	return e
}

// Container is a booted systemd-nspawn container.
type Container struct {
	t      testing.TB
	Name   string
	Leader int // PID of the container's systemd, as the host sees it
	nspawn *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// BootOptions are the mounts of a container besides the root.
type BootOptions struct {
	// BindRO maps host directories to read-only paths in the container.
	BindRO map[string]string
}

// Boot starts a container on a volatile overlay of root, waits until systemd reports the system
// running, and registers its teardown with t.Cleanup.
func Boot(t testing.TB, root string, o BootOptions) *Container {
	t.Helper()
	name := fmt.Sprintf("hyp-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	args := []string{
		"-D", root, "--volatile=overlay", "--boot", "--register=no", "--keep-unit",
		"--machine=" + name, "--private-network", "--console=read-only", "--quiet",
		// What hypd needs beyond nspawn's default set; bpf() is filtered by nspawn's seccomp
		// profile unless allowed.
		"--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN", "--system-call-filter=bpf",
	}
	for host, in := range o.BindRO {
		args = append(args, "--bind-ro="+host+":"+in)
	}
	c := &Container{t: t, Name: name, exited: make(chan struct{}), log: &bytes.Buffer{}}
	c.nspawn = exec.Command("systemd-nspawn", args...)
	c.nspawn.Stdout, c.nspawn.Stderr = c.log, c.log
	c.nspawn.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := c.nspawn.Start(); err != nil {
		t.Fatalf("starting systemd-nspawn: %v", err)
	}
	go func() { c.nspawn.Wait(); close(c.exited) }()
	t.Cleanup(c.kill)

	exited := false
	waitfor.Until(30*time.Second, func() bool {
		select {
		case <-c.exited:
			exited = true
			return true
		default:
		}
		c.Leader = childInNewPIDNS(c.nspawn.Process.Pid)
		return c.Leader != 0
	})
	switch {
	case exited:
		t.Fatalf("systemd-nspawn exited while booting:\n%s", c.log)
	case c.Leader == 0:
		t.Fatalf("no container init under systemd-nspawn (pid %d) after 30 s:\n%s", c.nspawn.Process.Pid, c.log)
	}
	// is-system-running --wait itself waits for the boot to finish; it is asked again only
	// while the container's bus is not up yet.
	var state string
	if !waitfor.Until(30*time.Second-time.Since(start), func() bool {
		out, _ := c.Exec("systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		return state == "running" || state == "degraded"
	}) {
		t.Fatalf("container %s: system state %q after 30 s:\n%s", name, state, c.log)
	}
	if state == "degraded" {
		failed, _ := c.Exec("systemctl", "--failed", "--no-legend")
		t.Logf("container %s booted degraded (not our units): %s", name, failed)
	}
	t.Logf("container %s (init pid %d) running after %s", name, c.Leader, time.Since(start).Round(time.Millisecond))
	return c
}

// childInNewPIDNS finds the child of pid that lives in another PID namespace: the container's
// init (systemd-nspawn's inner child, reparented to nspawn).
func childInNewPIDNS(pid int) int {
	self, _ := os.Readlink("/proc/self/ns/pid")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces) are state, ppid, ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p))
		if ns != "" && ns != self {
			return p
		}
	}
	return 0
}

// kill ends the container: SIGKILL to its init takes the whole PID namespace with it, and the
// network namespace and the volatile overlay go with the last process.
func (c *Container) kill() {
	if c.Leader != 0 {
		syscall.Kill(c.Leader, syscall.SIGKILL)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-c.nspawn.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
	if c.t.Failed() {
		c.t.Logf("systemd-nspawn output of %s:\n%s", c.Name, c.log)
	}
}

// nsenterArgs are nsenter's arguments to run args in the container: all of its namespaces, and
// its root and working directory (-r -w). Entering a mount namespace puts a process at that
// namespace's root mount, which is the container's root only when systemd-nspawn could move it
// onto the namespace's "/": when nspawn itself runs in a chroot (a build root, a CI job's
// chroot), that root is the host's, and `systemctl is-system-running` there, the host's
// systemctl finding no systemd, answers "offline" however far the container booted.
func (c *Container) nsenterArgs(args []string) []string {
	return append([]string{"-t", strconv.Itoa(c.Leader), "-a", "-r", "-w", "--"}, args...)
}

// Exec runs a command in all of the container's namespaces and returns its combined output.
// The error is an *exec.ExitError for a non-zero exit.
func (c *Container) Exec(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", c.nsenterArgs(args)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER="}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Must runs a command in the container and fails the test if it fails.
func (c *Container) Must(args ...string) string {
	c.t.Helper()
	out, err := c.Exec(args...)
	if err != nil {
		c.t.Fatalf("in %s: %s: %v\n%s", c.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// ExitCode runs a command in the container and returns its output and exit status.
func (c *Container) ExitCode(args ...string) (string, int) {
	c.t.Helper()
	out, err := c.Exec(args...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	}
	c.t.Fatalf("in %s: %s: %v", c.Name, strings.Join(args, " "), err)
	return out, -1
}

// WriteFile writes a file inside the container (through its root, /proc/PID/root).
func (c *Container) WriteFile(path, text string, mode os.FileMode) {
	c.t.Helper()
	p := filepath.Join(fmt.Sprintf("/proc/%d/root", c.Leader), path)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		c.t.Fatalf("writing %s in %s: %v", path, c.Name, err)
	}
}

// Client is a network namespace on the host joined to a container by a veth pair.
type Client struct {
	t         testing.TB
	NS        *netlab.NS
	Addr      string // the client's address
	Gateway   string // the container's address
	GatewayIF string // the interface name inside the container
	IF        string // the client's end of the veth pair, in NS
}

// LinkClient makes a client network namespace and a veth pair: GatewayIF with 10.77.N.1/24 in
// the container, its peer with 10.77.N.2/24 in the client. The pair is made in place, one end in
// each namespace, so nothing is ever left on the host; the namespace, and with it the pair, goes
// away on t.Cleanup.
func (c *Container) LinkClient(n int) *Client {
	c.t.Helper()
	cl := &Client{
		t:         c.t,
		NS:        netlab.Temp(c.t, fmt.Sprintf("hypsd-cl-%d-%d", os.Getpid(), n)),
		Addr:      fmt.Sprintf("10.77.%d.2", n),
		Gateway:   fmt.Sprintf("10.77.%d.1", n),
		GatewayIF: "hypt0",
		IF:        netlab.Iface,
	}
	if err := cl.NS.IPBatch(
		fmt.Sprintf("link add %s type veth peer name %s netns %d", cl.IF, cl.GatewayIF, c.Leader),
		fmt.Sprintf("addr add %s/24 dev %s", cl.Addr, cl.IF),
		"link set "+cl.IF+" up",
	); err != nil {
		c.t.Fatal(err)
	}
	c.Must("ip", "addr", "add", cl.Gateway+"/24", "dev", cl.GatewayIF)
	c.Must("ip", "link", "set", cl.GatewayIF, "up")
	c.Must("ip", "link", "set", "lo", "up")
	return cl
}

// Run runs a host command in the client namespace; it returns combined output and exit status.
func (cl *Client) Run(args ...string) (string, int) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := cl.NS.Command(ctx, args[0], args[1:]...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	cl.t.Fatalf("in %s: %s: %v", cl.NS.Name, strings.Join(args, " "), err)
	return "", -1
}

// Connect tries a TCP connection from the client to the gateway's port within timeout and
// returns the first line the service sends within two seconds more, or an error (a timeout when
// the port is hidden).
func (cl *Client) Connect(port int, timeout time.Duration) (string, error) {
	cl.t.Helper()
	to := netip.AddrPortFrom(netip.MustParseAddr(cl.Gateway), uint16(port))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := cl.NS.Dial(ctx, "tcp", to, netip.Addr{})
	if err != nil {
		return "", fmt.Errorf("connecting to %v: %w", to, err)
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading from %v: %w", to, err)
	}
	return strings.TrimSpace(line), nil
}

// Stdout runs a command in the container and returns only its standard output; it fails the test
// if the command fails.
func (c *Container) Stdout(args ...string) string {
	c.t.Helper()
	cmd := exec.Command("nsenter", c.nsenterArgs(args)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("in %s: %s: %v\n%s", c.Name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// Eventually polls cond until it returns nil or the timeout passes, then fails the test with
// cond's last error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	var err error
	if !waitfor.Until(timeout, func() bool { err = cond(); return err == nil }) {
		t.Fatalf("%s: not within %s: %v", what, timeout, err)
	}
}

// Start runs a host command in the client namespace in the background, with its output shown in
// the test log on failure; t.Cleanup stops it.
func (cl *Client) Start(args ...string) {
	cl.t.Helper()
	p, err := cl.NS.Start(args[0], args[1:]...)
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.t.Cleanup(func() {
		// How it ends does not matter (socat exits by the signal); that it ends does.
		_ = p.Stop(5 * time.Second)
		if cl.t.Failed() {
			cl.t.Logf("output of %s in %s:\n%s", strings.Join(args, " "), cl.NS.Name, p.Output())
		}
	})
}

// execCommand is exec.Command with a plain environment.
func execCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}
	return cmd
}

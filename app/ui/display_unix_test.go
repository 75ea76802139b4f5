//go:build linux

package ui

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// freeDisplay is an X display number nobody serves: its socket file does not exist and nothing
// listens on its abstract socket (the test's own network namespace has none it did not make).
func freeDisplay(t *testing.T) int {
	t.Helper()
	for n := 40000 + os.Getpid()%10000; n < 59000; n++ {
		if _, err := os.Stat("/tmp/.X11-unix/X" + strconv.Itoa(n)); err != nil {
			if c, err := net.Dial("unix", "@/tmp/.X11-unix/X"+strconv.Itoa(n)); err == nil {
				c.Close()
				continue
			}
			return n
		}
	}
	t.Fatal("no free X display number")
	return 0
}

func listen(t *testing.T, network, address string) net.Listener {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestCheckDisplay(t *testing.T) {
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("DISPLAY", "")
	if err := CheckDisplay(false); err == nil || !strings.HasPrefix(err.Error(), "no graphical session: DISPLAY and WAYLAND_DISPLAY are unset") {
		t.Errorf("nothing set: %v", err)
	}

	// DISPLAY=:n with nothing on :n: the panic of issue #19, now one line.
	n := freeDisplay(t)
	t.Setenv("DISPLAY", ":"+strconv.Itoa(n))
	err := CheckDisplay(false)
	want := "no usable display (DISPLAY=:" + strconv.Itoa(n) + "): cannot connect to /tmp/.X11-unix/X" + strconv.Itoa(n) + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; the tray needs a desktop session") {
		t.Errorf("DISPLAY=:%d, nothing there: %v\nwant %q…", n, err, want)
	}

	// The same display served on Linux's abstract socket, as Xorg and Xvfb also listen.
	listen(t, "unix", "@/tmp/.X11-unix/X"+strconv.Itoa(n))
	t.Setenv("DISPLAY", ":"+strconv.Itoa(n)+".0")
	if err := CheckDisplay(false); err != nil {
		t.Errorf("DISPLAY=:%d.0 on the abstract socket: %v", n, err)
	}
	t.Setenv("DISPLAY", "unix:"+strconv.Itoa(n))
	if err := CheckDisplay(false); err != nil {
		t.Errorf("DISPLAY=unix:%d: %v", n, err)
	}

	// A TCP display (ssh -X forwards one): port 6000+n.
	l := listen(t, "tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	if port <= 6000 {
		t.Fatalf("port %d", port)
	}
	t.Setenv("DISPLAY", "127.0.0.1:"+strconv.Itoa(port-6000))
	if err := CheckDisplay(false); err != nil {
		t.Errorf("DISPLAY=127.0.0.1:%d served: %v", port-6000, err)
	}
	l.Close()
	if err := CheckDisplay(false); err == nil || !strings.Contains(err.Error(), "cannot connect to 127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("DISPLAY=127.0.0.1:%d closed: %v", port-6000, err)
	}

	t.Setenv("DISPLAY", "gateway")
	if err := CheckDisplay(false); err == nil || !strings.Contains(err.Error(), `"gateway" is not an X display name`) {
		t.Errorf("DISPLAY=gateway: %v", err)
	}

	// Wayland alone: an X11 build has nothing to draw on; a Wayland one checks the compositor.
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "wayland-7")
	if err := CheckDisplay(false); err == nil || !strings.Contains(err.Error(), "DISPLAY is unset, and this hyp-tray draws through X11") {
		t.Errorf("Wayland only, X11 build: %v", err)
	}
	if err := CheckDisplay(true); err == nil || !strings.Contains(err.Error(), "cannot connect to "+filepath.Join(dir, "wayland-7")) {
		t.Errorf("Wayland build, no compositor: %v", err)
	}
	listen(t, "unix", filepath.Join(dir, "wayland-7"))
	if err := CheckDisplay(true); err != nil {
		t.Errorf("Wayland build, compositor there: %v", err)
	}
}

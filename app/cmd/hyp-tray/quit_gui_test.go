//go:build gui && linux

package main

// Issue #19's tray items, for real under Xvfb (.ci/stages/40-gui.sh runs them with the other
// gui tests): no X server is one clear line and exit 1, SIGTERM quits at once with status 0
// with or without a tray host, and an always-on profile connects when the tray starts.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// TestTrayCommandLineNoXServer: DISPLAY names a display nobody serves. GLFW used to panic with
// a goroutine trace (GLFW NotInitialized); now it is one line and exit status 1.
func TestTrayCommandLineNoXServer(t *testing.T) {
	bin := needEnv(t)
	n := 0
	for d := 40000 + os.Getpid()%10000; d < 59000; d++ {
		sock := "/tmp/.X11-unix/X" + strconv.Itoa(d)
		if _, err := os.Stat(sock); err == nil {
			continue
		}
		if c, err := net.Dial("unix", "@"+sock); err == nil {
			c.Close()
			continue
		}
		n = d
		break
	}
	if n == 0 {
		t.Fatal("no free X display number")
	}
	display := ":" + strconv.Itoa(n)
	cmd := exec.Command(filepath.Join(bin, "hyp-tray"))
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "WAYLAND_DISPLAY=", "LANG=C.UTF-8")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("hyp-tray with DISPLAY=%s did not exit within 20s:\n%s", display, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	text := strings.TrimSpace(string(out))
	want := "hyp-tray: no usable display (DISPLAY=" + display + "): "
	if code != 1 || !strings.HasPrefix(text, want) || !strings.HasSuffix(text, "; the tray needs a desktop session") || strings.Contains(text, "\n") {
		t.Errorf("DISPLAY=%s: exit %d, output %q; want 1 and one line %q…; the tray needs a desktop session", display, code, text, want)
	}
	for _, bad := range []string{"goroutine", "panic", "GLFW"} {
		if strings.Contains(text, bad) {
			t.Errorf("DISPLAY=%s: output mentions %q: %s", display, bad, text)
		}
	}
}

// TestRealTrayQuitsOnSIGTERM: SIGTERM ends hyp-tray within a few seconds with status 0 and no
// panic: in the tray (the icon on the session bus, the profile window open) and in the window
// it opens when there is no session bus.
func TestRealTrayQuitsOnSIGTERM(t *testing.T) {
	bin := needEnv(t)
	for _, c := range []struct {
		name  string
		noBus bool
	}{{"tray", false}, {"window only", true}} {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			logPath := filepath.Join(work, "tray.log")
			cmd := exec.Command(filepath.Join(bin, "hyp-tray"))
			if c.noBus {
				cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(work, "no-bus"))
			}
			tray := background(t, logPath, cmd)
			if c.noBus {
				findWindow(t, "hyp profiles", 20*time.Second)
			} else {
				conn, err := dbus.SessionBus()
				if err != nil {
					t.Fatalf("session bus: %v", err)
				}
				menu := findTray(t, conn)
				menu.click(t, "Manage profiles…")
				findWindow(t, "hyp profiles", 20*time.Second)
			}

			sent := time.Now()
			if err := tray.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-tray.done:
			case <-time.After(10 * time.Second):
				t.Fatal("hyp-tray did not exit within 10s of SIGTERM")
			}
			took := time.Since(sent)
			b, _ := os.ReadFile(logPath)
			if tray.err != nil || strings.Contains(string(b), "panic") || strings.Contains(string(b), "goroutine ") {
				t.Fatalf("hyp-tray did not quit cleanly on SIGTERM: %v\n%s", tray.err, b)
			}
			t.Logf("hyp-tray exited with status 0 %v after SIGTERM", took.Round(time.Millisecond))
		})
	}
}

// TestRealTrayConnectsAlwaysOn: a profile added with --always-on is connected when the tray
// starts, with no click: its VPN command runs. The profile knocks on loopback and has no check
// port, so no gateway is needed to see the tray act on it.
func TestRealTrayConnectsAlwaysOn(t *testing.T) {
	bin := needEnv(t)
	work := t.TempDir()
	ran := filepath.Join(work, "vpn-ran")
	vpn := filepath.Join(work, "vpn-up")
	if err := os.WriteFile(vpn, []byte("#!/bin/sh\necho \"$@\" > "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const uri = "hyp://127.0.0.1?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"
	add := exec.Command(filepath.Join(bin, "hyp"), "profile", "add", "always", uri, "--always-on", "--", vpn, "up", "always")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("hyp profile add --always-on: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(filepath.Join(bin, "hyp"), "profile", "remove", "always").Run() })

	// The connect ends in a notification: dunst takes it, so no notification server is
	// activated on the bus to leave a popup on the screen the later tests capture.
	conn, err := dbus.SessionBus()
	if err != nil {
		t.Fatalf("session bus: %v", err)
	}
	startNotificationServer(t, conn, work)
	logPath := filepath.Join(work, "tray.log")
	tray := background(t, logPath, exec.Command(filepath.Join(bin, "hyp-tray")))
	var got []byte
	if !waitfor.Until(20*time.Second, func() bool {
		got, _ = os.ReadFile(ran)
		return strings.HasSuffix(string(got), "\n")
	}) {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("the always-on profile's VPN command did not run within 20s of the tray's start\n%s", b)
	}
	if s := strings.TrimSpace(string(got)); s != "up always" {
		t.Fatalf("the VPN command ran with %q, want \"up always\"", s)
	}
	// The user hears of it as of a click (and the popup is closed).
	waitNotification(t, "hyp: always connected", 10*time.Second)
	tray.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-tray.done:
		if tray.err != nil {
			t.Fatalf("hyp-tray did not quit cleanly: %v", tray.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hyp-tray did not quit within 15s of SIGTERM")
	}
}

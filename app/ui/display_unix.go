//go:build linux || freebsd

package ui

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// displayDial bounds each attempt to reach the display server: a local
// socket answers at once, and a remote X server (ssh -X) within a round trip.
const displayDial = 2 * time.Second

// CheckDisplay says why there is no display to draw the tray on, before
// fyne's GLFW driver finds out and panics with a stack trace over it: no
// DISPLAY or WAYLAND_DISPLAY, or a server that does not answer
// (DISPLAY=:99 with nothing on :99). wayland says whether this build of
// GLFW draws through Wayland; without it (fyne's default), GLFW needs an X
// server, which a Wayland desktop provides as Xwayland.
//
// It only connects: an X server that then refuses us (xauth) is GLFW's to
// report, and it does so without a panic.
func CheckDisplay(wayland bool) error {
	x, wl := os.Getenv("DISPLAY"), os.Getenv("WAYLAND_DISPLAY")
	switch {
	case x == "" && wl == "":
		return errors.New("no graphical session: DISPLAY and WAYLAND_DISPLAY are unset (start hyp-tray from your desktop; in a terminal or over SSH, use hyp)")
	case wayland && wl != "":
		if err := reachWayland(wl); err != nil {
			return noDisplay("WAYLAND_DISPLAY="+wl, err)
		}
		return nil
	case x == "":
		return noDisplay("WAYLAND_DISPLAY="+wl, errors.New("DISPLAY is unset, and this hyp-tray draws through X11 (Xwayland)"))
	}
	if err := reachX(x); err != nil {
		return noDisplay("DISPLAY="+x, err)
	}
	return nil
}

func noDisplay(which string, err error) error {
	return fmt.Errorf("no usable display (%s): %w; the tray needs a desktop session", which, err)
}

// reachX connects to the X server that display names, where Xlib and xcb
// would: "[tcp/|unix/][host]:n[.screen]", a local server on its socket
// /tmp/.X11-unix/Xn (or Linux's abstract one), a remote one on TCP 6000+n.
func reachX(display string) error {
	protocol, rest, hasProto := strings.Cut(display, "/")
	if !hasProto || strings.HasPrefix(display, "/") {
		protocol, rest = "", display
	}
	if strings.HasPrefix(display, "/") {
		// A socket path with the display after it (XQuartz's launchd socket).
		path := display
		if i := strings.LastIndex(path, ":"); i > 0 {
			path = path[:i]
		}
		return dialAll([]dialTarget{{"unix", path}})
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return fmt.Errorf("%q is not an X display name ([host]:number)", display)
	}
	host, num := rest[:i], rest[i+1:]
	num, _, _ = strings.Cut(num, ".")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || n > 65535-6000 {
		return fmt.Errorf("%q is not an X display name ([host]:number)", display)
	}
	var targets []dialTarget
	local := host == "" || host == "unix"
	if local && protocol != "tcp" {
		sock := "/tmp/.X11-unix/X" + strconv.Itoa(n)
		targets = append(targets, dialTarget{"unix", sock})
		if runtime.GOOS == "linux" {
			targets = append(targets, dialTarget{"unix", "@" + sock})
		}
	}
	if protocol != "unix" && host != "unix" {
		h := host
		if h == "" {
			h = "localhost"
		}
		targets = append(targets, dialTarget{"tcp", net.JoinHostPort(strings.Trim(h, "[]"), strconv.Itoa(6000+n))})
	}
	return dialAll(targets)
}

// reachWayland connects to the compositor's socket: WAYLAND_DISPLAY is a
// path, or a name in XDG_RUNTIME_DIR.
func reachWayland(name string) error {
	path := name
	if !filepath.IsAbs(path) {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			return errors.New("XDG_RUNTIME_DIR is unset, so the Wayland socket cannot be found")
		}
		path = filepath.Join(dir, name)
	}
	return dialAll([]dialTarget{{"unix", path}})
}

type dialTarget struct{ network, address string }

// dialAll reports nil once one target accepts a connection, else why the
// first one (the usual place) did not.
func dialAll(targets []dialTarget) error {
	var first error
	for _, t := range targets {
		c, err := net.DialTimeout(t.network, t.address, displayDial)
		if err == nil {
			c.Close()
			return nil
		}
		if first == nil {
			first = fmt.Errorf("cannot connect to %s: %w", t.address, unwrapOp(err))
		}
	}
	return first
}

// unwrapOp drops net.OpError's "dial unix /path:" prefix, which the message
// already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			return se.Err
		}
		return op.Err
	}
	return err
}

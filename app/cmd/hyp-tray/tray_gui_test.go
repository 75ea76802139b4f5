//go:build gui && linux

package main

// The real tray, end to end: hyp-tray runs under Xvfb next to a StatusNotifierItem host
// (gtk-sni-tray-standalone) and a notification server (dunst), in a client network namespace
// whose gateway runs hypd. The test reads the tray's menu over D-Bus as a desktop shell would,
// clicks "Knock & Connect" for a profile in the real keyring, and checks that the protected
// service opens, the profile's VPN command ran and dunst received the "connected" notification.
// It screenshots the open menu and the profile window and checks they show something.
//
// .ci/stages/40-gui.sh runs it (go test -tags gui) inside dbus-run-session with a bus on a
// filesystem socket (abstract sockets do not cross network namespaces), gnome-keyring unlocked,
// the tray host started, and HYP_BIN naming a directory with hyp, hypd and hyp-tray.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

const (
	guiPort    = 2222
	watcherObj = "/StatusNotifierWatcher"
)

func needEnv(t *testing.T) (bin string) {
	t.Helper()
	needs.Root(t, "builds network namespaces and runs hypd")
	bin = os.Getenv("HYP_BIN")
	for _, v := range []string{"HYP_BIN", "DISPLAY", "DBUS_SESSION_BUS_ADDRESS"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: run this test through .ci/stages/40-gui.sh", v)
		}
	}
	return bin
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// proc is a command running in the background; done closes when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done
}

// background starts cmd with its output in logPath and stops it when the test ends.
func background(t *testing.T, logPath string, cmd *exec.Cmd) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", filepath.Base(logPath), b)
		}
	})
	return p
}

// menuItem is one entry of a com.canonical.dbusmenu layout.
type menuItem struct {
	id      int32
	label   string
	enabled bool
}

func flatten(v any, out *[]menuItem) {
	fields, ok := v.([]any)
	if !ok || len(fields) != 3 {
		return
	}
	id, _ := fields[0].(int32)
	props, _ := fields[1].(map[string]dbus.Variant)
	it := menuItem{id: id, enabled: true}
	if l, ok := props["label"]; ok {
		it.label, _ = l.Value().(string)
	}
	if e, ok := props["enabled"]; ok {
		it.enabled, _ = e.Value().(bool)
	}
	if it.label != "" {
		*out = append(*out, it)
	}
	children, _ := fields[2].([]dbus.Variant)
	for _, c := range children {
		flatten(c.Value(), out)
	}
}

type trayMenu struct {
	obj dbus.BusObject
}

func (m trayMenu) items(t *testing.T) []menuItem {
	t.Helper()
	call := m.obj.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if call.Err != nil {
		t.Fatalf("GetLayout: %v", call.Err)
	}
	if len(call.Body) != 2 {
		t.Fatalf("GetLayout returned %d values", len(call.Body))
	}
	layout, _ := call.Body[1].([]any)
	var items []menuItem
	flatten(layout, &items)
	return items
}

func (m trayMenu) find(t *testing.T, label string) menuItem {
	t.Helper()
	var labels []string
	for _, it := range m.items(t) {
		if it.label == label {
			return it
		}
		labels = append(labels, it.label)
	}
	t.Fatalf("no menu item %q; the menu has %q", label, labels)
	return menuItem{}
}

func (m trayMenu) click(t *testing.T, label string) {
	t.Helper()
	it := m.find(t, label)
	if !it.enabled {
		t.Fatalf("menu item %q is disabled", label)
	}
	call := m.obj.Call("com.canonical.dbusmenu.Event", 0, it.id, "clicked", dbus.MakeVariant(int32(0)), uint32(time.Now().Unix()))
	if call.Err != nil {
		t.Fatalf("clicking %q: %v", label, call.Err)
	}
}

// findTray waits until a StatusNotifierItem registers with the watcher and returns its menu.
func findTray(t *testing.T, conn *dbus.Conn) trayMenu {
	t.Helper()
	watcher := conn.Object("org.kde.StatusNotifierWatcher", watcherObj)
	var items []string
	var err error
	if !waitfor.Until(20*time.Second, func() bool {
		var v dbus.Variant
		if v, err = watcher.GetProperty("org.kde.StatusNotifierWatcher.RegisteredStatusNotifierItems"); err != nil {
			return false
		}
		items, _ = v.Value().([]string)
		return len(items) > 0
	}) {
		t.Fatalf("no tray item registered within 20s (last error %v)", err)
	}
	svc, path := items[0], dbus.ObjectPath("/StatusNotifierItem")
	if i := strings.Index(svc, "/"); i >= 0 {
		svc, path = svc[:i], dbus.ObjectPath(svc[i:])
	}
	mv, err := conn.Object(svc, path).GetProperty("org.kde.StatusNotifierItem.Menu")
	if err != nil {
		t.Fatalf("reading the tray item's menu path: %v", err)
	}
	mp, _ := mv.Value().(dbus.ObjectPath)
	return trayMenu{obj: conn.Object(svc, mp)}
}

// screenshot captures the whole X screen once it shows something: enough pixels that are not
// the root window's black (a menu or a window on it) and more than a handful of colours (text and
// icons, not a flat rectangle). It waits for that, up to 10 s, since a window is mapped before
// it is drawn.
func screenshot(t *testing.T, name string, minDrawn int) string {
	t.Helper()
	dir := os.Getenv("HYP_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	var drawn, colours int
	if !waitfor.Until(10*time.Second, func() bool {
		drawn, colours = capture(t, path)
		return drawn >= minDrawn && colours >= 16
	}) {
		t.Fatalf("%s looks blank: %d drawn pixels (want >= %d), %d colours (want >= 16)", path, drawn, minDrawn, colours)
	}
	t.Logf("%s: %d drawn pixels, %d colours", path, drawn, colours)
	return path
}

// menuShown reports whether something bigger than the tray bar is drawn: the open menu.
func menuShown(t *testing.T) bool {
	t.Helper()
	drawn, _ := capture(t, filepath.Join(t.TempDir(), "probe.png"))
	return drawn >= 10000
}

// capture writes the X screen to path and counts its drawn pixels and colours.
func capture(t *testing.T, path string) (drawn, colours int) {
	t.Helper()
	sh(t, "import", "-window", "root", path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return countPixels(img)
}

func countPixels(img image.Image) (drawn, colours int) {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r|g|bl != 0 {
				drawn++
			}
		}
	}
	return drawn, len(seen)
}

func TestRealTrayKnockAndConnect(t *testing.T) {
	bin := needEnv(t)
	work := t.TempDir()
	lab := netlab.TempLab(t, fmt.Sprintf("hypgui-%d", os.Getpid()), 60)
	service := netip.AddrPortFrom(lab.GatewayIP(), guiPort)

	// The gateway: a TCP service and hypd hiding it. hypd hides the service once it says it runs:
	// it checks everything first, then builds its table.
	lab.Gateway.TempEcho(t, guiPort)
	keys := filepath.Join(work, "keys")
	uri := strings.TrimSpace(sh(t, filepath.Join(bin, "hypd"), "secret", "new", "office", "--keys", keys, "--host", lab.GatewayIP().String(), "--check", fmt.Sprint(guiPort)))
	lab.Gateway.TempHypd(t, filepath.Join(bin, "hypd"),
		"--interface", netlab.Iface, "--keys", keys, "--services", fmt.Sprintf("tcp/%d", guiPort), "--open", "60s",
		"--state", filepath.Join(work, "state"), "--control", filepath.Join(work, "hypd.sock"))

	// The client's profile, secret in the real keyring, with a stand-in VPN command.
	ran := filepath.Join(work, "vpn-ran")
	// A short directory: the profile window shows the command, and its screenshot is the README's.
	vpnDir, err := os.MkdirTemp("", "hyp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vpnDir) })
	vpn := filepath.Join(vpnDir, "vpn-up")
	if err := os.WriteFile(vpn, []byte("#!/bin/sh\necho \"$@\" > "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	add := exec.Command(filepath.Join(bin, "hyp"), "profile", "add", "office", "-", "--check", fmt.Sprintf("tcp/%d", guiPort), "--", vpn, "up", "office")
	add.Stdin = strings.NewReader(uri)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("hyp profile add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(filepath.Join(bin, "hyp"), "profile", "remove", "office").Run() })

	if err := lab.Client.Echoes(service, 2*time.Second); err == nil {
		t.Fatal("the service answered before any knock")
	}

	conn, err := dbus.SessionBus()
	if err != nil {
		t.Fatalf("session bus: %v", err)
	}
	startNotificationServer(t, conn, work)
	tray := background(t, filepath.Join(work, "tray.log"), lab.Client.Command(context.Background(), filepath.Join(bin, "hyp-tray")))
	menu := findTray(t, conn)
	menu.find(t, "Knock & Connect: office")
	menu.find(t, "Knock only: office")
	menu.find(t, "Manage profiles…")
	menu.find(t, "Quit")

	// Open the menu on screen as a person would (left click on the tray icon) for the screenshot.
	// This is done before the knock: once a result changes the icon and the menu, the SNI host
	// here rebuilds its menu and a click often opens nothing (seen in CI), while the result itself
	// is checked over D-Bus below. A click during the host's first draw can also open nothing, so
	// try a few times.
	for attempt := 1; ; attempt++ {
		sh(t, "xdotool", "mousemove", "16", "16", "click", "1")
		if waitfor.Until(2*time.Second, func() bool { return menuShown(t) }) || attempt == 5 {
			break
		}
		sh(t, "xdotool", "key", "Escape")
	}
	screenshot(t, "tray-menu.png", 10000)
	sh(t, "xdotool", "key", "Escape")
	waitfor.For(t, "the menu to close", 5*time.Second, func() bool { return !menuShown(t) })

	menu.click(t, "Knock & Connect: office")
	// The script writes its line after it starts: wait for the line, not just the file.
	var got []byte
	waitfor.For(t, "the VPN command to run after clicking Knock & Connect", 15*time.Second, func() bool {
		got, _ = os.ReadFile(ran)
		return bytes.HasSuffix(got, []byte("\n"))
	})
	if got := strings.TrimSpace(string(got)); got != "up office" {
		t.Fatalf("the VPN command ran with %q, want \"up office\"", got)
	}
	if err := lab.Client.Echoes(service, 2*time.Second); err != nil {
		t.Fatalf("the service is still closed after Knock & Connect: %v", err)
	}
	// The menu reports the result.
	found := ""
	if !waitfor.Until(5*time.Second, func() bool {
		for _, it := range menu.items(t) {
			if strings.HasPrefix(it.label, "Last: ") {
				found = it.label
			}
		}
		return strings.Contains(found, "office")
	}) {
		t.Fatalf("the menu shows no result for office (last status %q)", found)
	}
	t.Logf("menu status: %s", found)

	// The desktop heard of it: the notification server got the result.
	note := waitNotification(t, "hyp: office connected", 10*time.Second)
	if !strings.Contains(note.body, "up office") {
		t.Fatalf("the connected notification says %q, want the VPN command it started", note.body)
	}
	t.Logf("notification: %q: %q", note.summary, note.body)

	menu.click(t, "Manage profiles…")
	findWindow(t, "hyp profiles", 20*time.Second)
	screenshot(t, "profile-window.png", 200000)

	menu.click(t, "Quit")
	select {
	case <-tray.done:
		if tray.err != nil {
			t.Fatalf("hyp-tray did not quit cleanly: %v", tray.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hyp-tray did not quit within 15s of Quit")
	}
	if b, _ := os.ReadFile(filepath.Join(work, "tray.log")); strings.Contains(string(b), "panic") {
		t.Fatalf("hyp-tray panicked:\n%s", b)
	}
}

// Without a session bus there is no tray host to ask for: hyp-tray opens its window instead, says
// why, and quits cleanly (fyne.io/systray would dereference a nil D-Bus connection on quit had
// the tray been started).
func TestRealTrayWithoutSessionBus(t *testing.T) {
	bin := needEnv(t)
	work := t.TempDir()
	logPath := filepath.Join(work, "tray.log")
	cmd := exec.Command(filepath.Join(bin, "hyp-tray"))
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(work, "no-bus"))
	tray := background(t, logPath, cmd)

	// The window appears on its own.
	findWindow(t, "hyp profiles", 20*time.Second)
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "no tray icon: there is no D-Bus session bus") {
		t.Errorf("hyp-tray did not say why it has no tray icon:\n%s", b)
	}

	// Quitting by signal (Ctrl-C; fyne treats SIGTERM the same) must not panic.
	tray.cmd.Process.Signal(os.Interrupt)
	select {
	case <-tray.done:
		b, _ := os.ReadFile(logPath)
		if tray.err != nil || strings.Contains(string(b), "panic") {
			t.Fatalf("hyp-tray without a session bus did not quit cleanly: %v\n%s", tray.err, b)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hyp-tray did not quit within 15s of SIGINT")
	}
}

// The command line a user meets first: --version, no display, LANG=C.UTF-8 — each one clear line,
// no GLFW stack trace, no Fyne locale noise.
func TestTrayCommandLine(t *testing.T) {
	bin := needEnv(t)
	tray := filepath.Join(bin, "hyp-tray")
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"version", []string{"LANG=C.UTF-8"}, []string{"--version"}, 0, "hyp-tray "},
		{"no display", []string{"LANG=C.UTF-8", "DISPLAY=", "WAYLAND_DISPLAY="}, nil, 1, "hyp-tray: no graphical session: DISPLAY and WAYLAND_DISPLAY are unset"},
		{"bad argument", nil, []string{"extra"}, 2, `hyp-tray: unexpected argument "extra"`},
	} {
		cmd := exec.Command(tray, c.args...)
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		text := strings.TrimSpace(string(out))
		if code != c.code || !strings.HasPrefix(text, c.want) || strings.Count(text, "\n") > 0 {
			t.Errorf("%s: exit %d, output %q; want %d and one line starting %q", c.name, code, text, c.code, c.want)
		}
		for _, bad := range []string{"goroutine", "panic", "locale"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s: output mentions %q: %s", c.name, bad, text)
			}
		}
	}
}

// startNotificationServer runs dunst, a real org.freedesktop.Notifications server, on the test's
// session bus and display, and waits until it owns the name.
func startNotificationServer(t *testing.T, conn *dbus.Conn, work string) {
	t.Helper()
	// An empty config: dunst's defaults, whatever /etc/xdg/dunst says.
	cfg := filepath.Join(work, "dunstrc")
	if err := os.WriteFile(cfg, []byte("[global]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := background(t, filepath.Join(work, "dunst.log"), exec.Command("dunst", "-config", cfg))
	var owned bool
	var err error
	exited := false
	waitfor.Until(10*time.Second, func() bool {
		err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.Notifications").Store(&owned)
		select {
		case <-d.done:
			exited = true
		default:
		}
		return (err == nil && owned) || exited
	})
	switch {
	case err == nil && owned:
	case exited:
		t.Fatalf("dunst exited: %v", d.err)
	default:
		t.Fatalf("dunst did not own org.freedesktop.Notifications within 10s (%v)", err)
	}
}

// findWindow waits until a visible window has this title.
func findWindow(t *testing.T, title string, within time.Duration) {
	t.Helper()
	secs := fmt.Sprint(int(within.Seconds()))
	find := exec.Command("timeout", secs, "xdotool", "search", "--sync", "--onlyvisible", "--name", "^"+regexp.QuoteMeta(title)+"$")
	if out, err := find.CombinedOutput(); err != nil {
		t.Fatalf("no %q window within %v: %v %s", title, within, err, out)
	}
}

type notification struct{ summary, body string }

// waitNotification waits until dunst has shown a notification with this summary. Shown ones
// reach dunst's history when closed, so each poll closes what is displayed and reads the history.
func waitNotification(t *testing.T, summary string, within time.Duration) notification {
	t.Helper()
	var seen []string
	var found *notification
	if !waitfor.Until(within, func() bool {
		sh(t, "dunstctl", "close-all")
		var h struct {
			Data [][]map[string]struct {
				Data any `json:"data"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(sh(t, "dunstctl", "history")), &h); err != nil {
			t.Fatalf("dunstctl history: %v", err)
		}
		seen = seen[:0]
		for _, group := range h.Data {
			for _, n := range group {
				got := notification{fmt.Sprint(n["summary"].Data), fmt.Sprint(n["body"].Data)}
				if got.summary == summary {
					found = &got
					return true
				}
				seen = append(seen, got.summary)
			}
		}
		return false
	}) {
		t.Fatalf("no notification %q within %v; dunst has %q", summary, within, seen)
	}
	return *found
}

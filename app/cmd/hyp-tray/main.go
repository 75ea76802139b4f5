//go:build cgo

// Command hyp-tray is hyp's tray app: "Knock & Connect" in one click, and a
// window to manage profiles. All UI logic is in app/ui; main picks fyne's real
// driver (the only import of fyne.io/fyne/v2/app), wires the profile store and
// the connect flow to it, and decides whether a tray can be shown at all.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/hideyourports/hyp/app/autostart"
	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/internal/cleanlocale"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui"
	"github.com/hideyourports/hyp/app/ui/corebackend"
	"github.com/hideyourports/hyp/app/ui/helperbackend"
	"github.com/hideyourports/hyp/assets"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// appID matches FyneApp.toml; fyne keys preferences and notifications on it.
const appID = "net.hideyourports.hyp"

// version is set by release builds: -ldflags "-X main.version=v1.2.3". A variable only because
// the linker can write nothing else; nothing assigns it.
var version string

func main() {
	cleanlocale.Restore()
	window := flag.Bool("window", false, "open the profile window at start")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: hyp-tray [--window] [--version]\n\nhyp's tray app: Knock & Connect from the system tray.\n\nFlags:\n  --window   open the profile window at start\n  --version  print the version and exit\n")
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hyp-tray: unexpected argument %q (hyp-tray --help)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *showVersion {
		// The same version string as hyp and hypd print.
		fmt.Printf("hyp-tray %s %s %s/%s\n", cmdline.VersionString(version), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	// GLFW panics with a goroutine trace when it has no display to open.
	if err := ui.CheckDisplay(waylandBuild); err != nil {
		fmt.Fprintf(os.Stderr, "hyp-tray: %v\n", err)
		os.Exit(1)
	}
	logPath, closeLog, err := openLog()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hyp-tray: %v\n", err) // the log goes to stderr, then
	}
	// Fyne logs through the standard logger too; its noise stays out of hyp-tray's log.
	log.SetOutput(ui.NewFyneLog(log.Writer()))
	err = run(*window, logPath)
	if err != nil {
		log.Printf("hyp-tray: %v", err)
	}
	if closeLog != nil {
		closeLog()
	}
	if err != nil {
		os.Exit(1)
	}
}

// forceQuit bounds how long hyp-tray may take to stop after SIGTERM or
// Ctrl-C: the tray's own Quit waits up to 6 s for VPN commands, and the
// shutdown after the window loop as long again. Past it, something blocks
// the window loop, and the process ends without it.
const forceQuit = 15 * time.Second

func run(openWindow bool, logPath string) error {
	// Caught from here on, so a signal while the tray starts up (the keyring,
	// the D-Bus tray check) still quits cleanly; handled once the tray exists.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)

	store, err := profiles.Open(profiles.Options{})
	if err != nil {
		return fmt.Errorf("opening the profile store: %w", err)
	}
	if err := registerToastID(appID, "hyp"); err != nil {
		log.Printf("hyp-tray: %v; notifications may not show", err)
	}
	a := app.NewWithID(appID)
	a.SetIcon(fyne.NewStaticResource("icon.png", assets.Icon()))
	opts := ui.Options{LogPath: logPath}
	if exe, err := os.Executable(); err == nil {
		if as, err := autostart.New(exe); err == nil {
			opts.Autostart = as
		}
	}
	// With the helper service running, the tray also lists its profiles
	// and asks it to knock; without it, the tray is the user's alone.
	backend := &helperbackend.Backend{Backend: corebackend.New(store, &connect.Connector{}), Store: store}
	tray := ui.NewTray(a, backend, opts)

	var host ui.TrayHost
	noTray := ui.CheckTrayHost(context.Background())
	if noTray == nil {
		if d, ok := a.(desktop.App); ok {
			host = d
		} else {
			noTray = errors.New("this display driver has no system tray")
		}
	}
	if noTray != nil {
		log.Printf("hyp-tray: no tray icon: %v; opening the window instead", noTray)
	}
	tray.Show(host, noTray)
	if openWindow && host != nil {
		tray.ShowWindow()
	}

	// Ctrl-C and SIGTERM quit like the menu's Quit. fyne catches them too, but only once its
	// loop's goroutine got to run, and both only queue a Quit for that loop: a loop that is
	// blocked (seen once: every thread in a futex) would leave the process deaf to them. So a
	// second signal ends it at once, as without the tray, and past forceQuit it ends anyway.
	go quitOnSignal(sig, tray.Quit, forceQuit, os.Exit)

	runApp(a)
	// Quitting from the window manager or a signal skips the menu's Quit:
	// stop the runs (and the VPN commands they started) here too.
	tray.Shutdown(6 * time.Second)
	return nil
}

// quitOnSignal waits for the first signal, quits (the tray's Quit, which
// ends the window loop, and so run), and exits with status 1 itself if the
// process is still there after force. A second signal gets the default
// action (the handlers are reset), as in any program that is not stuck.
func quitOnSignal(sig <-chan os.Signal, quit func(), force time.Duration, exit func(code int)) {
	s := <-sig
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	log.Printf("hyp-tray: %v: quitting", s)
	quit()
	time.Sleep(force)
	log.Printf("hyp-tray: still running %v after %v; exiting without the window loop", force, s)
	exit(1)
}

// runApp runs fyne's loop. fyne.io/systray dereferences a nil D-Bus
// connection on quit when it started without a session bus; CheckTrayHost
// keeps the tray off then, and this recover keeps any such shutdown panic
// from turning a clean quit into a crash report.
func runApp(a fyne.App) {
	defer func() {
		if r := recover(); r != nil {
			log.Printf("hyp-tray: the tray failed while shutting down: %v", r)
		}
	}()
	a.Run()
}

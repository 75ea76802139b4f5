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
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui"
	"github.com/hideyourports/hyp/app/ui/corebackend"
	"github.com/hideyourports/hyp/app/ui/servicebackend"
	"github.com/hideyourports/hyp/assets"
	"github.com/hideyourports/hyp/internal/cleanlocale"
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
		v := version
		if v == "" {
			v = "dev"
		}
		fmt.Printf("hyp-tray %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	if err := checkDisplay(); err != nil {
		fmt.Fprintf(os.Stderr, "hyp-tray: %v\n", err)
		os.Exit(1)
	}
	logPath, closeLog, err := openLog()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hyp-tray: %v\n", err) // the log goes to stderr, then
	}
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

func run(openWindow bool, logPath string) error {
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
	backend := &servicebackend.Backend{Backend: corebackend.New(store, &connect.Connector{}), Store: store}
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
	// loop's goroutine got to run; a signal that arrives as the first window appears would
	// otherwise kill the process mid-draw.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			fyne.Do(a.Quit)
		}
	}()

	runApp(a)
	// Quitting from the window manager or a signal skips the menu's Quit:
	// stop the runs (and the VPN commands they started) here too.
	tray.Shutdown(6 * time.Second)
	return nil
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

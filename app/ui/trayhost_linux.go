package ui

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// watcherName is the bus name of the StatusNotifierItem host's registry. A
// tray icon on a Linux desktop exists only if someone owns it.
const watcherName = "org.kde.StatusNotifierWatcher"

// CheckTrayHost reports why no tray icon can be shown, or nil if one can.
//
// fyne's tray (fyne.io/systray) registers with the watcher on the session
// bus; without a watcher the icon silently goes nowhere, and without a
// session bus its shutdown dereferences a nil connection and panics on Quit.
// So the tray is only started when this returns nil.
func CheckTrayHost(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := dbus.SessionBusPrivate(dbus.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("there is no D-Bus session bus (%w)", err)
	}
	defer conn.Close()
	if err := conn.Auth(nil); err != nil {
		return fmt.Errorf("the D-Bus session bus refused us (%w)", err)
	}
	if err := conn.Hello(); err != nil {
		return fmt.Errorf("the D-Bus session bus refused us (%w)", err)
	}
	var has bool
	err = conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, watcherName).Store(&has)
	if err != nil {
		return fmt.Errorf("asking D-Bus for a tray host: %w", err)
	}
	if !has {
		return errors.New("this desktop has no system tray (no StatusNotifierItem host: nobody owns " + watcherName + " on D-Bus)")
	}
	return nil
}

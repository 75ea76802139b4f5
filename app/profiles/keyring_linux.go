package profiles

import (
	"fmt"
	"os"
	"path/filepath"
)

// keyringReachable refuses early when there is no D-Bus session bus: without
// one, godbus would try to autolaunch a bus with dbus-launch, leaving a
// stray daemon behind (or failing with a message about X11).
func keyringReachable() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset), so no Secret Service", ErrNoKeyring)
}

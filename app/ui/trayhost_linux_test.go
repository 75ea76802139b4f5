package ui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// With no session bus, the tray must not start (fyne.io/systray would panic
// on quit): CheckTrayHost says why instead.
func TestCheckTrayHostWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	err := CheckTrayHost(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no D-Bus session bus") {
		t.Errorf("CheckTrayHost = %v, want no session bus", err)
	}
}

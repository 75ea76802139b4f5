package autostart

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/windows/registry"
)

// TestRunKey writes, reads and removes the value under a scratch key of
// HKEY_CURRENT_USER (on Windows, or under wine), never the real Run key.
func TestRunKey(t *testing.T) {
	path := fmt.Sprintf(`Software\hyp-autostart-test-%d`, os.Getpid())
	t.Cleanup(func() { registry.DeleteKey(registry.CURRENT_USER, path) })
	r := RunKey{Path: path, Exec: `C:\Program Files\hyp\hyp-tray.exe`}
	if on, err := r.Enabled(); err != nil || on {
		t.Fatalf("before: %v, %v", on, err)
	}
	if err := r.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	k, err := registry.OpenKey(registry.CURRENT_USER, path, registry.QUERY_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := k.GetStringValue(Name)
	k.Close()
	if err != nil || v != `"C:\Program Files\hyp\hyp-tray.exe"` {
		t.Fatalf("Run value %q, %v", v, err)
	}
	if on, err := r.Enabled(); err != nil || !on {
		t.Fatalf("after enabling: %v, %v", on, err)
	}
	if err := r.SetEnabled(false); err != nil {
		t.Fatal(err)
	}
	if on, err := r.Enabled(); err != nil || on {
		t.Fatalf("after disabling: %v, %v", on, err)
	}
	if err := r.SetEnabled(false); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
}

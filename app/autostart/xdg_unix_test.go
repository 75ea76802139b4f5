//go:build unix

package autostart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestXDGOnOff(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "autostart")
	x := XDG{Dir: dir, Exec: "/usr/bin/hyp-tray"}
	if on, err := x.Enabled(); err != nil || on {
		t.Fatalf("before: %v, %v", on, err)
	}
	if err := x.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hyp-tray.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[Desktop Entry]\n", "Type=Application\n", "Exec=/usr/bin/hyp-tray\n", "Name=hyp\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("entry lacks %q:\n%s", want, b)
		}
	}
	if on, err := x.Enabled(); err != nil || !on {
		t.Fatalf("after enabling: %v, %v", on, err)
	}
	if err := x.SetEnabled(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hyp-tray.desktop")); !os.IsNotExist(err) {
		t.Fatalf("the entry is still there after disabling: %v", err)
	}
	if err := x.SetEnabled(false); err != nil {
		t.Fatalf("disabling twice: %v", err)
	}
}

// A desktop's settings switch an entry off with Hidden=true; that is off.
func TestXDGHidden(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hyp-tray.desktop"), []byte(desktopEntry("/usr/bin/hyp-tray")+"Hidden=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := XDG{Dir: dir, Exec: "/usr/bin/hyp-tray"}
	if on, err := x.Enabled(); err != nil || on {
		t.Fatalf("hidden entry: %v, %v", on, err)
	}
	if err := x.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	if on, _ := x.Enabled(); !on {
		t.Fatal("enabling did not replace the hidden entry")
	}
}

func TestXDGExecQuoting(t *testing.T) {
	dir := t.TempDir()
	x := XDG{Dir: dir, Exec: `/opt/my apps/hyp "tray"$1\x`}
	if err := x.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "hyp-tray.desktop"))
	want := `Exec="/opt/my apps/hyp \\"tray\\"\\$1\\\\x"` + "\n"
	if !strings.Contains(string(b), want) {
		t.Fatalf("entry:\n%s\nwant line %s", b, want)
	}
	if err := (XDG{Dir: dir}).SetEnabled(true); err == nil {
		t.Fatal("an entry without a program was written")
	}
}

func TestXDGDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/cfg")
	if d, err := XDGDir(); err != nil || d != "/cfg/autostart" {
		t.Fatalf("XDGDir: %q, %v", d, err)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := XDGDir(); d != "/home/u/.config/autostart" {
		t.Fatalf("XDGDir without XDG_CONFIG_HOME: %q", d)
	}
}

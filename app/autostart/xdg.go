package autostart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hideyourports/hyp/internal/atomicfile"
)

// XDG is an autostart entry in the freedesktop way: a .desktop file in
// $XDG_CONFIG_HOME/autostart that the session starts at login. Removing the
// file turns it off; a file with Hidden=true (how desktop settings switch off
// an entry) counts as off.
type XDG struct {
	Dir  string // the autostart directory; "" => XDGDir()
	Exec string // the program to start
}

// XDGDir is $XDG_CONFIG_HOME/autostart, ~/.config/autostart by default.
func XDGDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "autostart"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the autostart directory: %w", err)
	}
	return filepath.Join(home, ".config", "autostart"), nil
}

func (x XDG) path() (string, error) {
	dir := x.Dir
	if dir == "" {
		var err error
		if dir, err = XDGDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, Name+".desktop"), nil
}

// Enabled implements Setting.
func (x XDG) Enabled() (bool, error) {
	path, err := x.path()
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the autostart entry: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.TrimSpace(k) == "Hidden" && strings.TrimSpace(v) == "true" {
			return false, nil
		}
	}
	return true, nil
}

// SetEnabled implements Setting: on writes the entry (replacing hyp-tray's
// own entry, say one switched off with Hidden=true), off removes it.
func (x XDG) SetEnabled(on bool) error {
	path, err := x.path()
	if err != nil {
		return err
	}
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the autostart entry: %w", err)
		}
		return nil
	}
	if x.Exec == "" {
		return errors.New("the autostart entry needs the program's path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the autostart directory: %w", err)
	}
	if err := atomicfile.Write(path, []byte(desktopEntry(x.Exec)), 0o644); err != nil {
		return fmt.Errorf("writing the autostart entry: %w", err)
	}
	return nil
}

// desktopEntry is the autostart file for exe. In a desktop entry's string
// values a backslash is itself escaped, so the quoted Exec's backslashes
// double once more.
func desktopEntry(exe string) string {
	return "[Desktop Entry]\n" +
		"Type=Application\n" +
		"Name=hyp\n" +
		"Comment=Knock & Connect from the system tray\n" +
		"Exec=" + strings.ReplaceAll(quoteExec(exe), `\`, `\\`) + "\n" +
		"Icon=net.hideyourports.hyp\n" +
		"Terminal=false\n" +
		"X-GNOME-Autostart-enabled=true\n"
}

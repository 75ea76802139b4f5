package autostart

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// RunKeyPath is the per-user key whose values Windows starts at login.
const RunKeyPath = `Software\Microsoft\Windows\CurrentVersion\Run`

// RunKey is a value under HKEY_CURRENT_USER's Run key.
type RunKey struct {
	Path string // "" => RunKeyPath (tests use a scratch key)
	Exec string // the program to start
}

func (r RunKey) path() string {
	if r.Path == "" {
		return RunKeyPath
	}
	return r.Path
}

// Enabled implements Setting.
func (r RunKey) Enabled() (bool, error) {
	k, err := registry.OpenKey(registry.CURRENT_USER, r.path(), registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening HKCU\\%s: %w", r.path(), err)
	}
	defer k.Close()
	_, _, err = k.GetStringValue(Name)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading HKCU\\%s\\%s: %w", r.path(), Name, err)
	}
	return true, nil
}

// SetEnabled implements Setting.
func (r RunKey) SetEnabled(on bool) error {
	if !on {
		k, err := registry.OpenKey(registry.CURRENT_USER, r.path(), registry.SET_VALUE)
		if errors.Is(err, registry.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("opening HKCU\\%s: %w", r.path(), err)
		}
		defer k.Close()
		if err := k.DeleteValue(Name); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("removing HKCU\\%s\\%s: %w", r.path(), Name, err)
		}
		return nil
	}
	if r.Exec == "" {
		return errors.New("the Run value needs the program's path")
	}
	k, _, err := registry.CreateKey(registry.CURRENT_USER, r.path(), registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("opening HKCU\\%s: %w", r.path(), err)
	}
	defer k.Close()
	if err := k.SetStringValue(Name, runValue(r.Exec)); err != nil {
		return fmt.Errorf("writing HKCU\\%s\\%s: %w", r.path(), Name, err)
	}
	return nil
}

// New is the current user's Run value for exe.
func New(exe string) (Setting, error) { return RunKey{Exec: exe}, nil }

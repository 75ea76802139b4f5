//go:build cgo

package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows/registry"
)

// maxLog is the size at which the tray's log starts afresh.
const maxLog = 1 << 20

// openLog sends the log to hyp-tray.log in %LOCALAPPDATA%\hyp: a Windows GUI program has no
// console, so without it every error the tray logs would vanish. The window shows the path.
func openLog() (path string, closeLog func(), err error) {
	base, err := os.UserCacheDir() // %LOCALAPPDATA% on Windows
	if err != nil {
		return "", nil, fmt.Errorf("finding %%LOCALAPPDATA%%: %w", err)
	}
	dir := filepath.Join(base, "hyp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("creating the log directory: %w", err)
	}
	path = filepath.Join(dir, "hyp-tray.log")
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if st, err := os.Stat(path); err == nil && st.Size() > maxLog {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("opening the log: %w", err)
	}
	log.SetOutput(f)
	return path, func() { f.Close() }, nil
}

// registerToastID registers appID as an AppUserModelID for this user: Windows shows the toast
// notifications of an app that is not a packaged one only for an ID registered so (fyne sends
// them under the app's ID).
func registerToastID(appID, displayName string) error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, `Software\Classes\AppUserModelId\`+appID, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf("registering the notification app id: %w", err)
	}
	defer k.Close()
	if err := k.SetStringValue("DisplayName", displayName); err != nil {
		return fmt.Errorf("registering the notification app id: %w", err)
	}
	return nil
}

package ui

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// fyneNoise are the reasons of Fyne's error records that say nothing an admin can act on in
// hyp-tray: hyp keeps no Fyne preferences (an empty preferences file logs "EOF" at every start),
// and a desktop without a notification service makes every notification log three lines. The
// first record of each kind becomes one line of hyp's own; the rest are dropped.
func fyneNoise() []struct{ reason, once string } {
	return []struct{ reason, once string }{
		{"Preferences load error", "hyp-tray: ignoring Fyne's preferences file (hyp keeps its settings in its own profile store)"},
		{"Settings load error", "hyp-tray: ignoring Fyne's settings file; the default theme and scale apply"},
		{"Unable to connect to session D-Bus", "hyp-tray: notifications are not shown: no D-Bus session bus"},
		{"Failed to send message to bus", "hyp-tray: notifications are not shown: no notification service answers on the session bus"},
	}
}

// FyneLog is the log writer of hyp-tray: it passes every line on to w but Fyne's noise (see
// fyneNoise). Fyne logs a record as separate lines ("Fyne error: REASON", "  Cause: ...",
// "  At: FILE:LINE"), one Write each, through the standard logger.
type FyneLog struct {
	w io.Writer

	mu       sync.Mutex // guards dropping and said
	dropping bool       // inside a dropped record: its Cause and At lines go too
	said     map[string]bool
}

// NewFyneLog returns a FyneLog writing to w.
func NewFyneLog(w io.Writer) *FyneLog { return &FyneLog{w: w, said: map[string]bool{}} }

func (f *FyneLog) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropping && (bytes.Contains(p, []byte("  Cause:")) || bytes.Contains(p, []byte("  At:"))) {
		return len(p), nil
	}
	f.dropping = false
	if bytes.Contains(p, []byte("Fyne error: ")) {
		for _, n := range fyneNoise() {
			if !bytes.Contains(p, []byte(n.reason)) {
				continue
			}
			f.dropping = true
			if !f.said[n.reason] {
				f.said[n.reason] = true
				if _, err := fmt.Fprintln(f.w, n.once); err != nil {
					return 0, err
				}
			}
			return len(p), nil
		}
	}
	return f.w.Write(p)
}

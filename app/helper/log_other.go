//go:build !windows

package helper

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// openLog opens path for appending (a service log outside Windows is
// stderr, the journal; this serves `helper run --service` by hand), never
// through a link.
func openLog(path string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the helper log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the helper log: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > maxLog {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("starting the helper log afresh: %w", err)
		}
	}
	return f, nil
}

package helper

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxLog is the size at which the service log starts afresh.
const maxLog = 1 << 20

// logPath is the log the helper writes when it runs as a Windows service (which has no console
// and whose event log wine does not keep): helper.log in the store directory, which is private.
func logPath(cfg Config) string {
	return filepath.Join(Store{Dir: cfg.Dir}.dir(), "helper.log")
}

// OpenServiceLog opens the service log for appending, starting it afresh when it has grown
// past maxLog. The store directory is made private first (secureDir).
func OpenServiceLog(cfg Config) (io.WriteCloser, error) {
	path := logPath(cfg)
	if err := secureDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if st, err := os.Stat(path); err == nil && st.Size() > maxLog {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the helper log: %w", err)
	}
	return f, nil
}

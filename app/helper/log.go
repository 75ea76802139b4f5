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
// and whose event log wine does not keep): helper.log beside the store directory (in
// ProgramData\hyp, which secureDir makes private with the store). Not in the store: the helper
// must be able to say why it stopped when the store is what is wrong. The log holds no keys.
func logPath(cfg Config) string {
	return filepath.Join(filepath.Dir(Store{Dir: cfg.Dir}.dir()), "helper.log")
}

// OpenServiceLog opens the service log for appending, starting it afresh when it has grown
// past maxLog.
func OpenServiceLog(cfg Config) (io.WriteCloser, error) {
	path := logPath(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the helper log directory: %w", err)
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

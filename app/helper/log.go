package helper

import (
	"io"
	"path/filepath"

	"github.com/hideyourports/hyp/app/helper/store"
)

// maxLog is the size at which the service log starts afresh.
const maxLog = 1 << 20

// logPath is the log the helper writes when it runs as a Windows service (which has no console
// and whose event log wine does not keep): helper.log beside the store directory (in
// ProgramData\hyp, which perm.SecureDir makes private with the store). Not in the store: the helper
// must be able to say why it stopped when the store is what is wrong. The log holds no keys.
func logPath(cfg Config) string {
	return filepath.Join(filepath.Dir(store.Store{Dir: cfg.Dir}.Directory()), "helper.log")
}

// OpenServiceLog opens the service log for appending, starting it afresh when it has grown
// past maxLog. On Windows the folder is made private first and the file is opened without
// following links (see openLog).
func OpenServiceLog(cfg Config) (io.WriteCloser, error) {
	return openLog(logPath(cfg))
}

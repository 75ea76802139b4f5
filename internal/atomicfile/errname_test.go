package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A failed write names the temporary file it was writing (it used to say
// "writing : no space left on device") and leaves neither it nor the target.
func TestWriteErrorNamesTheTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	err := WriteFrom(path, failingReader{}, 0o600)
	if err == nil || !strings.Contains(err.Error(), "writing "+filepath.Join(dir, ".state.json.tmp-")) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("error %v, want it to name the temporary file and the cause", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

package helperipc

import (
	"os"
	"path/filepath"
	"testing"
)

func testAddress(t *testing.T) string { return filepath.Join(t.TempDir(), "helper.sock") }

func isAdmin() bool { return os.Geteuid() == 0 }

package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// F5a of the attacker review: hypd init refuses to keep a keys directory that group or others
// may write into (hypd would load no key from it), naming the fix; hypd check refuses a config
// file that others may write.
func TestInitAndCheckRefuseLooseModes(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "etc", "hypd.toml")
	keys := filepath.Join(dir, "etc", "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keys, 0o777); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runWith(t, def, "init")
	if code != 2 || !strings.Contains(errOut, "keys directory "+keys) || !strings.Contains(errOut, "chmod go-w "+keys) {
		t.Fatalf("init keeping a 0777 keys directory: exit %d, %q %q", code, out, errOut)
	}
	if err := os.Chmod(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = runWith(t, def, "init"); code != 0 || !strings.Contains(out, "kept the existing keys directory") {
		t.Fatalf("init after chmod: exit %d, %q %q", code, out, errOut)
	}

	if err := os.Chmod(def, 0o666); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runWith(t, def, "check")
	if code != 2 || !strings.Contains(errOut, "chmod go-w "+def) {
		t.Fatalf("check of a 0666 config: exit %d, %q %q", code, out, errOut)
	}
}

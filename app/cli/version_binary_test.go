package cli_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

// Issue 21 item 4: hyp and hypd of one build print the same version string (hyp-tray prints
// cmdline.VersionString too).
func TestBinariesPrintTheSameVersion(t *testing.T) {
	var versions []string
	for _, name := range []string{"hyp", "hypd"} {
		out, err := exec.Command(testbin.Path(t, name), "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", name, err)
		}
		// "NAME VERSION [COMMIT] goX.Y OS/ARCH": the words between the name and the Go version.
		f := strings.Fields(string(out))
		if len(f) < 4 || f[0] != name {
			t.Fatalf("%s --version: %q", name, out)
		}
		versions = append(versions, strings.Join(f[1:len(f)-2], " "))
	}
	if versions[0] != versions[1] || versions[0] == "dev" {
		t.Fatalf("hyp says %q, hypd says %q", versions[0], versions[1])
	}
}

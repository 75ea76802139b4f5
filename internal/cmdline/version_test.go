package cmdline

import (
	"strings"
	"testing"
)

// A linked version wins; without one, the build information gives a non-empty version.
func TestVersionString(t *testing.T) {
	if v := VersionString("v1.2.3"); v != "v1.2.3" {
		t.Fatalf("linked version: %q", v)
	}
	if v := VersionString(""); v == "" || strings.Contains(v, "dev ") {
		t.Fatalf("build info version: %q", v)
	}
}

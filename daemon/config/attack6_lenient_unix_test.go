//go:build unix

package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/daemon/protected"
)

// The sixth attacker review. Promise 2: nothing un-hides from power-on on. On a first boot the
// file is the one thing that says what to hide, so when it fails to load (a typo elsewhere, an
// unquoted duration) ServicesOf must still find every service the loader would have read. Its
// fallback regex stops at the first ']' after "services = [", finds no line that starts with a
// quoted key or a byte-order mark: a comment with a bracket in it between two entries, a key
// written "services" (quotes are TOML, the loader reads it), a file an editor saved with a BOM
// (the loader skips it) leave services out of the fail-closed table, open to everyone.
func TestAttack6ServicesOfMissesWhatTheLoaderReads(t *testing.T) {
	dir := t.TempDir()
	want := []protected.Service{{Proto: "tcp", Port: 22}, {Proto: "udp", Port: 51820}}
	for name, text := range map[string]string{
		"bracket in a comment": "open = 5m\nservices = [\n  \"tcp/22\",  # ssh [admins only]\n  \"udp/51820\",\n]\n",
		"quoted key":           "open = 5m\n\"services\" = [\"tcp/22\", \"udp/51820\"]\n",
		"byte-order mark":      "\ufeffservices = [\"tcp/22\", \"udp/51820\"]\nopen = 5m\n",
	} {
		p := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		// What the loader reads once the typo is mended: the services ServicesOf must find.
		fixed := filepath.Join(dir, name+".fixed.toml")
		if err := os.WriteFile(fixed, []byte(strings.Replace(text, "open = 5m", "open = \"5m\"", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ServicesOf(fixed); !slices.Equal(got, want) {
			t.Fatalf("%s, typo mended: ServicesOf = %v, want %v (the test's file is wrong)", name, got, want)
		}
		if got := ServicesOf(p); !slices.Equal(got, want) {
			t.Errorf("%s: a file with a typo elsewhere: ServicesOf = %v, want %v: the rest is not hidden by the fail-closed start of a first boot", name, got, want)
		}
	}
}

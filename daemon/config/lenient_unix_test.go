//go:build unix

package config

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/hideyourports/hyp/daemon/protected"
)

// TestReadBounded: the fail-closed start reads whatever hypd.toml has become without hanging or
// running out of memory: a FIFO, a sparse file far larger than any config, a directory are
// errors at once; a regular file is read.
func TestReadBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.toml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		t.Fatal(err)
	}
	f.Close()
	good := filepath.Join(dir, "good.toml")
	if err := os.WriteFile(good, []byte("services = [\"tcp/22\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, huge, dir} {
		if _, err := ReadBounded(p); err == nil {
			t.Errorf("ReadBounded(%s) read it", p)
		}
		if got := ServicesOf(p); got != nil {
			t.Errorf("ServicesOf(%s) = %v", p, got)
		}
		if got := StateDirOf(p); got != DefaultStateDir {
			t.Errorf("StateDirOf(%s) = %s", p, got)
		}
	}
	if b, err := ReadBounded(good); err != nil || len(b) == 0 {
		t.Errorf("ReadBounded(good) = %q, %v", b, err)
	}
}

// TestServicesOfLenient: the services of a file that no longer parses (the typo that made it
// fail), spelt in any case the loader accepts, over several lines.
func TestServicesOfLenient(t *testing.T) {
	dir := t.TempDir()
	want := []protected.Service{{Proto: "tcp", Port: 22}, {Proto: "udp", Port: 51820}}
	for name, text := range map[string]string{
		"typo":       "services = [\"tcp/22\", 'udp/51820']\nopen = 5m\n",
		"multi-line": "open = 5m\nservices = [\n  \"tcp/22\",  # ssh\n  \"udp/51820\",\n]\n",
		"case":       "Services = [\"tcp/22\", \"udp/51820\"]\nState_Dir = '/srv/hyp'\n",
		"bad entry":  "services = [\"tcp/22\", \"udp/5182O\", \"udp/51820\"]\n",
	} {
		p := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ServicesOf(p); !slices.Equal(got, want) {
			t.Errorf("%s: ServicesOf = %v, want %v", name, got, want)
		}
		if name == "case" {
			if d := StateDirOf(p); d != "/srv/hyp" {
				t.Errorf("StateDirOf of State_Dir = %s, want /srv/hyp", d)
			}
		}
	}
}

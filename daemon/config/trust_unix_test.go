//go:build unix

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// F5a of the attacker review: a config file that another user owns, or that group or others may
// write, is refused: its writer could add public = [...] and un-hide a service.
func TestConfigWritableByOthersIsRefused(t *testing.T) {
	needs.Root(t, "chowns a config file to another user")
	dir := t.TempDir()
	path := filepath.Join(dir, "hypd.toml")
	write := func(mode os.FileMode, uid int) {
		t.Helper()
		os.Remove(path)
		if err := os.WriteFile(path, []byte("interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\n"), mode); err != nil {
			t.Fatal(err)
		}
		must(t, os.Chmod(path, mode)) // past the umask
		must(t, os.Chown(path, uid, uid))
	}
	for _, c := range []struct {
		name string
		mode os.FileMode
		uid  int
		want []string // empty: loads
	}{
		{"root's 0644", 0o644, 0, nil},
		{"root's 0600", 0o600, 0, nil},
		{"nobody's 0666", 0o666, 65534, []string{"owned by uid 65534", "chown root " + path}},
		{"nobody's 0644", 0o644, 65534, []string{"owned by uid 65534"}},
		{"root's 0666", 0o666, 0, []string{"mode 0666", "chmod go-w " + path}},
		{"root's 0664", 0o664, 0, []string{"mode 0664", "chmod go-w " + path}},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			write(c.mode, c.uid)
			_, err := Load(path)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func writeKeyFile(t *testing.T, path string) {
	t.Helper()
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(path, []byte(fmt.Sprintf("secret = %q\nservices = [\"tcp/22\"]\n", k.Encode())), 0o600))
}

// F5a: a keys directory that group or others may write into, or that another user owns, loads no
// key and says how to fix it.
func TestKeysDirWritableByOthersIsRefused(t *testing.T) {
	needs.Root(t, "chowns a directory to another user")
	for _, c := range []struct {
		name string
		mode os.FileMode
		uid  int
		want string // empty: loads
	}{
		{"0700", 0o700, 0, ""},
		{"0755", 0o755, 0, ""},
		{"0777", 0o777, 0, "chmod go-w"},
		{"0770", 0o770, 0, "chmod go-w"},
		{"0702", 0o702, 0, "chmod go-w"},
		{"sticky but nobody's", 0o1777, 65534, "owned by uid 65534"},
		{"nobody's 0700", 0o700, 65534, "owned by uid 65534"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			must(t, os.Mkdir(dir, 0o700))
			writeKeyFile(t, filepath.Join(dir, "laptop.toml"))
			must(t, os.Chmod(dir, c.mode&0o777|map[bool]os.FileMode{true: os.ModeSticky}[c.mode&0o1000 != 0]))
			must(t, os.Chown(dir, c.uid, c.uid))
			keys, problems := LoadKeys(dir, Default())
			if c.want == "" {
				if len(keys) != 1 || len(problems) != 0 {
					t.Fatalf("keys %v, problems %v; want laptop", names(keys), problems)
				}
				return
			}
			if len(keys) != 0 {
				t.Fatalf("loaded %v from a directory others can write", names(keys))
			}
			if len(problems) != 1 || !strings.Contains(problems[0].Error(), "keys directory "+dir) || !strings.Contains(problems[0].Error(), c.want) {
				t.Fatalf("problems %v; want one naming %s and %q", problems, dir, c.want)
			}
		})
	}
}

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// LoadKeys reads the files of a large keys directory on every core, and decides what depends on
// the others (a name taken, a secret held twice) in the directory's order: its keys and its
// problems, in their order and words, are those of one pass on one core.
func TestLoadKeysManyInParallel(t *testing.T) {
	dir := t.TempDir()
	const n = 400
	secrets := make([]string, n)
	wantKeys, wantProblems := 0, 0
	for i := range n {
		secrets[i] = newSecret(t).Encode()
		name := fmt.Sprintf("k%03d", i)
		switch i % 8 {
		case 0, 1, 2, 3:
			writeFile(t, dir, name+".key", secrets[i]+"\n", 0o600)
			wantKeys++
		case 4:
			writeFile(t, dir, name+".toml", "secret = \""+secrets[i]+"\"\nservices = [\"tcp/443\"]\nuses = 3\n", 0o600)
			wantKeys++
		case 5:
			writeFile(t, dir, name+".key", secrets[i]+"\n", 0o644) // group and others may read it
			wantProblems++
		case 6:
			writeFile(t, dir, name+".key", secrets[i-6]+"\n", 0o600) // k(i-6)'s secret again
			wantProblems++
		case 7:
			// The same name twice: .key comes first in the directory's order.
			writeFile(t, dir, name+".key", secrets[i]+"\n", 0o600)
			writeFile(t, dir, name+".toml", "secret = \""+newSecret(t).Encode()+"\"\n", 0o600)
			wantKeys++
			wantProblems++
		}
		writeFile(t, dir, "."+name+".swp", "not a key", 0o600)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.key"), 0o700); err != nil {
		t.Fatal(err)
	}

	keys, problems := LoadKeys(dir, daemonDefaults())
	if len(keys) != wantKeys || len(problems) != wantProblems {
		t.Fatalf("%d keys and %d problems, want %d and %d (first problem: %v)", len(keys), len(problems), wantKeys, wantProblems, problems)
	}
	// Each problem names its file; the files in the directory's order.
	var files []string
	for _, p := range problems {
		f := strings.Fields(strings.TrimPrefix(p.Error(), "key file "))[0]
		files = append(files, strings.TrimSuffix(f, ":"))
	}
	if !slices.IsSorted(files) {
		t.Errorf("problems out of the directory's order: %v", files)
	}
	for _, p := range problems {
		s := p.Error()
		switch {
		case strings.Contains(s, "holds the same secret as"):
			// The later file is refused, the earlier one named.
			var a, b int
			if _, err := fmt.Sscanf(filepath.Base(strings.Fields(s)[2]), "k%03d", &a); err != nil {
				t.Fatal(err)
			}
			if _, err := fmt.Sscanf(filepath.Base(strings.Fields(s)[len(strings.Fields(s))-2]), "k%03d", &b); err != nil {
				t.Fatal(err)
			}
			if a%8 != 6 || b != a-6 {
				t.Errorf("%s: want k%03d refused for k%03d's secret", s, a, a-6)
			}
		case strings.Contains(s, "is already taken by"):
			if !strings.Contains(s, ".toml:") || !strings.HasSuffix(s, ".key; ignored") {
				t.Errorf("%s: want the .toml refused, the .key kept", s)
			}
		case strings.Contains(s, "lets group or others read it"):
		default:
			t.Errorf("unexpected problem: %s", s)
		}
	}

	// One core, one pass: the same outcome, word for word.
	prev := runtime.GOMAXPROCS(1)
	keys1, problems1 := LoadKeys(dir, daemonDefaults())
	runtime.GOMAXPROCS(prev)
	if !slices.Equal(names(keys), names(keys1)) {
		t.Errorf("keys differ from one pass on one core")
	}
	for i := range keys {
		if keys[i].Path != keys1[i].Path || keys[i].Uses != keys1[i].Uses || !slices.Equal(keys[i].Services, keys1[i].Services) ||
			!keys[i].Secret.Equal(keys1[i].Secret) {
			t.Errorf("key %s differs from one pass on one core", keys[i].Name)
		}
	}
	if len(problems) != len(problems1) {
		t.Fatalf("%d problems, %d on one core", len(problems), len(problems1))
	}
	for i := range problems {
		if problems[i].Error() != problems1[i].Error() {
			t.Errorf("problem %d: %q, on one core %q", i, problems[i], problems1[i])
		}
	}
}

package core_test

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImports keeps core portable: it must build for every GOOS/GOARCH with
// CGO_ENABLED=0 and never pull in a GUI, kernel or OS-service library, so
// the CLI and the tray app on any platform share exactly this code.
func TestImports(t *testing.T) {
	touchSources(t)
	cmd := exec.Command("go", "list", "-deps", "-json", "./...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	forbiddenPrefixes := []string{
		"fyne.io/", "github.com/cilium/ebpf", "github.com/google/nftables",
		"github.com/zalando/go-keyring", "github.com/kardianos/service", "golang.org/x/sys/",
	}
	// Direct imports our own core packages must not use: they tie code to an
	// OS or to cgo.
	forbiddenDirect := map[string]bool{"C": true, "os/exec": true, "syscall": true, "unsafe": true, "os/signal": true, "os/user": true, "plugin": true}

	const module = "github.com/hideyourports/hyp/"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	own := 0
	for {
		var p struct {
			ImportPath string
			Standard   bool
			Imports    []string
			CgoFiles   []string
			GoFiles    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for _, f := range forbiddenPrefixes {
			if strings.HasPrefix(p.ImportPath, f) {
				t.Errorf("core depends on %s", p.ImportPath)
			}
		}
		if p.Standard {
			continue
		}
		switch {
		case strings.HasPrefix(p.ImportPath, module+"core"):
			own++
			if len(p.CgoFiles) > 0 {
				t.Errorf("%s uses cgo: %v", p.ImportPath, p.CgoFiles)
			}
			for _, f := range p.GoFiles {
				if strings.Contains(f, "_linux") || strings.Contains(f, "_windows") || strings.Contains(f, "_darwin") {
					t.Errorf("%s has OS-specific file %s", p.ImportPath, f)
				}
			}
			for _, imp := range p.Imports {
				if forbiddenDirect[imp] {
					t.Errorf("%s imports %s", p.ImportPath, imp)
				}
			}
		case strings.HasPrefix(p.ImportPath, "golang.org/x/crypto/"):
		default:
			t.Errorf("core depends on %s; only the standard library and golang.org/x/crypto are allowed", p.ImportPath)
		}
	}
	if own < 5 {
		t.Errorf("go list saw %d core packages, want at least 5 (core, psk, sequence, profile, knock)", own)
	}
}

// touchSources reads every file go list will look at. go test caches a
// passing result keyed on the files the test itself opened; without this a
// new forbidden import, seen only by the go list child, would not rerun it.
func touchSources(t *testing.T) {
	t.Helper()
	for _, f := range []string{"../go.mod", "../go.sum"} {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			_, err := os.ReadDir(path)
			return err
		}
		if strings.HasSuffix(path, ".go") {
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Package testbin gives tests the real hyp and hypd binaries, built once per test binary the
// way releases build them (-trimpath, no cgo), or taken from HYP_BIN when whoever runs the tests
// built them already. Tests that exec the programs then test what users run, and a package's
// tests do not each pay for a link.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Env names the directory holding the binaries.
const Env = "HYP_BIN"

// packages maps each binary to its main package.
func packages() map[string]string {
	return map[string]string{
		"hyp":  "github.com/hideyourports/hyp/app/cmd/hyp",
		"hypd": "github.com/hideyourports/hyp/daemon",
	}
}

// Main builds the named binaries (hyp, hypd) into a temporary directory unless HYP_BIN already
// holds them, points HYP_BIN at it, runs the tests and removes what it built. Call it from
// TestMain: os.Exit(testbin.Main(m, "hyp", "hypd")).
func Main(m *testing.M, names ...string) int { return main(m, false, names) }

// MainRace is Main with the binaries built with the race detector (and so with cgo): tests that
// run hypd through its concurrent paths then see its data races as "WARNING: DATA RACE" in its
// output, which they fail on (RaceReport). Binaries already in HYP_BIN are used as they are.
func MainRace(m *testing.M, names ...string) int { return main(m, true, names) }

func main(m *testing.M, race bool, names []string) int {
	if have(os.Getenv(Env), names) {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "hyp-testbin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	build := Build
	if race {
		build = BuildRace
	}
	if err := build(dir, names...); err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		return 1
	}
	os.Setenv(Env, dir)
	return m.Run()
}

// Path returns the binary name from HYP_BIN, failing t when it is not there.
func Path(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(os.Getenv(Env), name)
	if !have(os.Getenv(Env), []string{name}) {
		t.Fatalf("%s is missing: TestMain must call testbin.Main, or set %s to a directory with %s", p, Env, name)
	}
	return p
}

// Build compiles the named binaries into dir.
func Build(dir string, names ...string) error { return build(dir, false, names) }

// BuildRace compiles the named binaries into dir with the race detector.
func BuildRace(dir string, names ...string) error { return build(dir, true, names) }

// RaceReport returns the first data race report in a program's output, or "".
func RaceReport(output string) string {
	i := strings.Index(output, "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	end := strings.Index(output[i:], "==================")
	if end < 0 {
		return output[i:]
	}
	return output[i : i+end]
}

func build(dir string, race bool, names []string) error {
	goBin := "go"
	if _, err := exec.LookPath("go"); err != nil {
		// `go test` puts go on PATH; a test binary run by hand, e.g. under sudo, may lack it.
		goBin = "/usr/local/go/bin/go"
		if r := os.Getenv("GOROOT"); r != "" {
			goBin = filepath.Join(r, "bin", "go")
		}
	}
	for _, name := range names {
		pkg, ok := packages()[name]
		if !ok {
			return fmt.Errorf("no package for binary %q", name)
		}
		args := []string{"build", "-trimpath", "-o", filepath.Join(dir, name)}
		cgo := "CGO_ENABLED=0"
		if race {
			args, cgo = append(args, "-race"), "CGO_ENABLED=1"
		}
		c := exec.Command(goBin, append(args, pkg)...)
		c.Env = append(os.Environ(), cgo)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %w\n%s", name, err, out)
		}
	}
	return nil
}

func have(dir string, names []string) bool {
	if dir == "" {
		return false
	}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

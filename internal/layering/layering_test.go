package layering

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/hideyourports/hyp"

// rules maps a layer (a path prefix in the module) to the layers it must not import.
func rules() map[string][]string {
	return map[string][]string{
		"core/":     {"app/", "daemon/", "internal/", "bpf/", "packaging/"},
		"bpf":       {"app/", "daemon/", "packaging/"},
		"internal/": {"app/", "daemon/", "bpf", "packaging/"},
		"daemon/":   {"app/"},
		"app/":      {"daemon/", "bpf"},
	}
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// list runs go list for goos over the whole module, test imports included.
func list(t *testing.T, goos string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list (GOOS=%s): %v\n%s", goos, err, ee.Stderr)
		}
		t.Fatalf("go list (GOOS=%s): %v", goos, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// layerOf returns path's place in the module ("daemon/commands", "bpf"), or false outside it.
func layerOf(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}

func inLayer(rel, layer string) bool {
	if strings.HasSuffix(layer, "/") {
		return strings.HasPrefix(rel, layer)
	}
	return rel == layer || strings.HasPrefix(rel, layer+"/")
}

func violations(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from, ok := layerOf(p.ImportPath)
		if !ok {
			continue
		}
		for layer, forbidden := range rules() {
			if !inLayer(from, layer) {
				continue
			}
			for _, imp := range append(append(append([]string{}, p.Imports...), p.TestImports...), p.XTestImports...) {
				to, ok := layerOf(imp)
				if !ok {
					continue
				}
				for _, f := range forbidden {
					if inLayer(to, f) {
						bad = append(bad, p.ImportPath+" imports "+imp+" ("+layer+" must not import "+f+")")
					}
				}
			}
		}
	}
	return bad
}

func TestLayers(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		pkgs := list(t, goos)
		if len(pkgs) < 20 {
			t.Fatalf("GOOS=%s: go list found only %d packages; is the test run from the module?", goos, len(pkgs))
		}
		for _, v := range violations(pkgs) {
			t.Errorf("GOOS=%s: %s", goos, v)
		}
	}
}

// testTools are the packages that are test tooling themselves and so may
// import internal/testkit from non-test code: the kit, the systemd test
// harness and the bench and flood programs.
var testTools = []string{"internal/testkit/", "packaging/systemdtest", "daemon/tools/"}

// sharedExceptions are internal/ packages one side uses with the test kit
// rather than with the other side, and why they still belong here.
var sharedExceptions = map[string]string{
	"internal/netns":    "the daemon's detector and firewall and the test kit's namespace lab enter namespaces alike",
	"internal/layering": "this test",
}

// roomViolations reports what the layout promises beyond the layers: product
// code never imports the test kit, and a package in internal/ outside the
// kit is one that both daemon/ and app/ use (a client-only helper lives in
// app/internal, a daemon-only one under daemon/).
func roomViolations(pkgs []pkg) []string {
	var bad []string
	users := map[string]map[string]bool{} // internal package -> sides that import it
	for _, p := range pkgs {
		from, ok := layerOf(p.ImportPath)
		if !ok {
			continue
		}
		tool := false
		for _, t := range testTools {
			tool = tool || inLayer(from, t)
		}
		for _, imp := range p.Imports {
			to, ok := layerOf(imp)
			if !ok {
				continue
			}
			if inLayer(to, "internal/testkit/") && !tool {
				bad = append(bad, p.ImportPath+" imports "+imp+" (only tests and test tools may use internal/testkit)")
			}
			if inLayer(to, "internal/") && !inLayer(to, "internal/testkit/") {
				for _, side := range []string{"app/", "daemon/"} {
					if inLayer(from, side) {
						if users[to] == nil {
							users[to] = map[string]bool{}
						}
						users[to][side] = true
					}
				}
			}
		}
	}
	for _, p := range pkgs {
		rel, ok := layerOf(p.ImportPath)
		if !ok || !inLayer(rel, "internal/") || inLayer(rel, "internal/testkit/") || sharedExceptions[rel] != "" {
			continue
		}
		if !users[rel]["app/"] || !users[rel]["daemon/"] {
			bad = append(bad, p.ImportPath+" is in internal/ but not used by both app/ and daemon/ (move it to the side that uses it)")
		}
	}
	return bad
}

func TestRooms(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		for _, v := range roomViolations(list(t, goos)) {
			t.Errorf("GOOS=%s: %s", goos, v)
		}
	}
}

func TestRoomRulesCatchAMisplacedPackage(t *testing.T) {
	bad := roomViolations([]pkg{
		{ImportPath: module + "/daemon/config", Imports: []string{module + "/internal/testkit/waitfor", module + "/internal/atomicfile"}},
		{ImportPath: module + "/app/profiles", Imports: []string{module + "/internal/atomicfile", module + "/internal/knocksock"}},
		{ImportPath: module + "/daemon/tools/bench", Imports: []string{module + "/internal/testkit/netlab"}},
		{ImportPath: module + "/internal/atomicfile"},
		{ImportPath: module + "/internal/knocksock"},
	})
	if len(bad) != 2 || !strings.Contains(bad[0], "daemon/config imports") || !strings.Contains(bad[1], "internal/knocksock is in internal/") {
		t.Fatalf("violations = %q, want daemon/config's test-kit import and the client-only internal/knocksock", bad)
	}
}

// TestRulesCatchAWrongImport proves the check is not vacuous: the import this test was
// written for (the daemon's secret command drawing QR codes with the client's package) fails.
func TestRulesCatchAWrongImport(t *testing.T) {
	bad := violations([]pkg{
		{ImportPath: module + "/daemon/commands", Imports: []string{module + "/app/qrterm", "fmt"}},
		{ImportPath: module + "/core/knock", TestImports: []string{module + "/internal/testkit/waitfor"}},
		{ImportPath: module + "/bpfextra", Imports: []string{module + "/app/cli"}},
		{ImportPath: module + "/app/cli", Imports: []string{module + "/internal/cmdline", module + "/core/psk"}},
	})
	if len(bad) != 2 {
		t.Fatalf("violations = %q, want the daemon→app and core→internal imports", bad)
	}
}

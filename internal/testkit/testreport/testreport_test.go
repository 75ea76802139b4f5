package testreport

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A real go test -json run over a module of three packages: one passes, one fails a test and
// skips another, one does not build.
func TestReadRealGoTest(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":            "module example.com/m\n\ngo 1.22\n",
		"good/good_test.go": "package good\nimport \"testing\"\nfunc TestA(t *testing.T) {}\nfunc TestB(t *testing.T) { t.Run(\"sub\", func(t *testing.T) {}) }\n",
		"bad/bad_test.go": "package bad\nimport \"testing\"\n" +
			"func TestFails(t *testing.T) { t.Log(\"the reason it failed\"); t.Fail() }\n" +
			"func TestSkips(t *testing.T) { t.Skip(\"no widget here\") }\n" +
			"func TestNoisyPass(t *testing.T) { t.Log(\"chatter nobody needs\") }\n",
		"broken/broken_test.go": "package broken\nimport \"testing\"\nfunc TestX(t *testing.T) { undefined() }\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, _ := cmd.CombinedOutput() // it fails: that is the point
	var report strings.Builder
	s, err := Read(strings.NewReader(string(out)), &report, false)
	if err != nil {
		t.Fatal(err)
	}
	text := report.String()
	t.Logf("report:\n%s", text)
	if s.Passed != 4 || s.Failed != 1 || len(s.Skipped) != 1 {
		t.Errorf("counts %s, want 4 passed (A, B, B/sub, NoisyPass), 1 failed, 1 skipped", s.Line())
	}
	if len(s.Skipped) == 1 && (s.Skipped[0].Test != "example.com/m/bad TestSkips" || !strings.Contains(s.Skipped[0].Reason, "no widget here")) {
		t.Errorf("skip = %+v, want TestSkips with its reason", s.Skipped[0])
	}
	for _, want := range []string{"the reason it failed", "--- FAIL: TestFails", "ok  \texample.com/m/good", "FAIL\texample.com/m/bad", "undefined: undefined"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, unwanted := range []string{"chatter nobody needs", "=== RUN", "--- PASS"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("report has %q, which plain go test leaves out", unwanted)
		}
	}
	if !strings.Contains(strings.Join(s.FailedPackages, " "), "example.com/m/broken") {
		t.Errorf("failed packages %v lack the one that does not build", s.FailedPackages)
	}
	if s.OK(false) {
		t.Error("OK with a failed test")
	}
}

func TestOKAndNoSkip(t *testing.T) {
	s := Summary{Passed: 3, Skipped: []Skip{{Test: "p T", Reason: "r"}}}
	if !s.OK(false) || s.OK(true) {
		t.Errorf("a run with one skip: OK(false)=%v OK(true)=%v, want true, false", s.OK(false), s.OK(true))
	}
	if (Summary{}).OK(false) {
		t.Error("OK for a run in which no test ran")
	}
	var b strings.Builder
	s.Write(&b, "go-test")
	if want := "skipped: p T: r\ngo-test: 3 passed, 0 failed, 1 skipped\n"; b.String() != want {
		t.Errorf("Write = %q, want %q", b.String(), want)
	}
}

// Output of a test the binary died under is shown, not lost.
func TestUnfinishedTestIsShown(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestHang"}
{"Action":"output","Package":"p","Test":"TestHang","Output":"panic: test timed out\n"}
{"Action":"fail","Package":"p"}
`
	var b strings.Builder
	s, err := Read(strings.NewReader(in), &b, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "--- UNFINISHED: p TestHang\npanic: test timed out") {
		t.Errorf("report %q lacks the unfinished test's output", b.String())
	}
	if s.OK(false) {
		t.Error("OK although the package failed")
	}
}

// Verbose copies every test's output, as go test -v would, and still counts.
func TestVerbose(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:3: took 12ms\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.01s)\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"PASS\n"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`
	var b strings.Builder
	s, err := Read(strings.NewReader(in), &b, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "=== RUN   TestA\n    a_test.go:3: took 12ms\n--- PASS: TestA (0.01s)\nPASS\nok  \tp\t0.1s\n"
	if b.String() != want || s.Passed != 1 || !s.OK(true) {
		t.Errorf("verbose report %q (%s), want %q, 1 passed", b.String(), s.Line(), want)
	}
}

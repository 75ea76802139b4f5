// Package testreport reads the JSON stream of `go test -json` and writes what plain `go test`
// would have written — a line per package, the output of every test that failed, build errors —
// followed by the counts of tests passed, failed and skipped and the name and reason of each
// skip. CI runs every test with every need provided, so a skip there can only hide a failure;
// counting them is how a run shows that nothing was quietly left out.
package testreport

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus the build events of
// go 1.24 and later).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

// Skip is a test that was skipped, with the reason it gave.
type Skip struct {
	Test   string // package and test name
	Reason string
}

// Summary is what the stream held.
type Summary struct {
	Passed, Failed int
	Skipped        []Skip
	// FailedPackages names the packages that failed: a failed test, and also what fails no
	// test — a build error, a panic outside any test, a TestMain that exited non-zero.
	FailedPackages []string
}

// OK says whether a test ran, nothing failed and, with noSkip, nothing was skipped. A run of
// no test at all is not OK: a -run pattern that matches nothing would otherwise pass.
func (s Summary) OK(noSkip bool) bool {
	ran := s.Passed + s.Failed + len(s.Skipped)
	return ran > 0 && s.Failed == 0 && len(s.FailedPackages) == 0 && (!noSkip || len(s.Skipped) == 0)
}

// Line is the closing line: "N passed, N failed, N skipped".
func (s Summary) Line() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", s.Passed, s.Failed, len(s.Skipped))
}

type testKey struct{ pkg, test string }

// Read copies the report of the stream r to w as it goes and returns the counts. A line that is
// not JSON (go test's own errors before any test ran, a vet failure) is copied as it is. With
// verbose, every test's output is copied as it comes, as go test -v writes it.
func Read(r io.Reader, w io.Writer, verbose bool) (Summary, error) {
	var s Summary
	// Output of tests still running, kept until they end: printed only if they fail.
	pending := map[testKey][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "build-fail":
			s.FailedPackages = append(s.FailedPackages, e.ImportPath+" (build failed)")
		case e.Test == "":
			packageEvent(&s, e, w, verbose)
		default:
			k := testKey{e.Package, e.Test}
			switch e.Action {
			case "output":
				if verbose {
					fmt.Fprint(w, e.Output)
					continue
				}
				pending[k] = append(pending[k], e.Output)
			case "pass":
				s.Passed++
				delete(pending, k)
			case "skip":
				s.Skipped = append(s.Skipped, Skip{Test: e.Package + " " + e.Test, Reason: skipReason(pending[k], verbose)})
				delete(pending, k)
			case "fail":
				s.Failed++
				for _, o := range pending[k] {
					if !strings.HasPrefix(o, "=== ") {
						fmt.Fprint(w, o)
					}
				}
				delete(pending, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("reading go test's JSON: %w", err)
	}
	// A test that never ended: the binary died under it (a panic in another goroutine, a
	// time-out, a signal). Its output is the best account of why.
	keys := make([]testKey, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].pkg+" "+keys[i].test < keys[j].pkg+" "+keys[j].test
	})
	for _, k := range keys {
		fmt.Fprintf(w, "--- UNFINISHED: %s %s\n", k.pkg, k.test)
		for _, o := range pending[k] {
			fmt.Fprint(w, o)
		}
	}
	return s, nil
}

// packageEvent handles an event of the package itself: its report lines are what plain go test
// prints; a failed package is remembered.
func packageEvent(s *Summary, e event, w io.Writer, verbose bool) {
	switch e.Action {
	case "output":
		// "PASS" is go test -v's line before "ok"; plain go test leaves it out.
		if e.Output != "PASS\n" || verbose {
			fmt.Fprint(w, e.Output)
		}
	case "fail":
		s.FailedPackages = append(s.FailedPackages, e.Package)
	}
}

// skipReason is the message of t.Skip: what the test wrote besides go test's own lines (the
// message streams before "--- SKIP:" under -json, which implies -v).
func skipReason(out []string, verbose bool) string {
	if verbose {
		return "(in the output above)"
	}
	var lines []string
	for _, o := range out {
		t := strings.TrimSpace(o)
		if t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- SKIP:") {
			lines = append(lines, t)
		}
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " ")
}

// Write prints the closing block: every skip with its reason, then the counts.
func (s Summary) Write(w io.Writer, label string) {
	for _, sk := range s.Skipped {
		fmt.Fprintf(w, "skipped: %s: %s\n", sk.Test, sk.Reason)
	}
	for _, p := range s.FailedPackages {
		fmt.Fprintf(w, "failed package: %s\n", p)
	}
	fmt.Fprintf(w, "%s: %s\n", label, s.Line())
}

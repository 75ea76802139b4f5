package needs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingSkipsOrFails runs itself as a child process with a need that is not met (the
// child is the same test under NEEDS_CHILD=1) and reads how the child ended. No test of the
// package is ever skipped in a normal run.
func TestMissingSkipsOrFails(t *testing.T) {
	if os.Getenv("NEEDS_CHILD") == "1" {
		Env(t, "NEEDS_NEVER_SET", "1", "nothing sets it")
		t.Log("reached past an unmet need")
		return
	}
	for _, tc := range []struct {
		noSkip   string
		wantFail bool
		wantText string
	}{
		{"", false, "--- SKIP: TestMissingSkipsOrFails"},
		{"1", true, "forbids skipping"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingSkipsOrFails$", "-test.v")
		cmd.Env = append(os.Environ(), "NEEDS_CHILD=1", NoSkipEnv+"="+tc.noSkip, "NEEDS_NEVER_SET=")
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail {
			t.Errorf("%s=%q: failed=%v, want %v\n%s", NoSkipEnv, tc.noSkip, failed, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.wantText) {
			t.Errorf("%s=%q: output lacks %q:\n%s", NoSkipEnv, tc.noSkip, tc.wantText, out)
		}
		if strings.Contains(string(out), "reached past") {
			t.Errorf("%s=%q: the test went on after an unmet need", NoSkipEnv, tc.noSkip)
		}
	}
}

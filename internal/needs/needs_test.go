package needs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The child runs TestChild with a need that is not met; the parent reads how it ended.
func TestChild(t *testing.T) {
	if os.Getenv("NEEDS_CHILD") != "1" {
		t.Skip("run by TestMissingSkipsOrFails as a child process")
	}
	Env(t, "NEEDS_NEVER_SET", "1", "nothing sets it")
	t.Log("reached past an unmet need")
}

func TestMissingSkipsOrFails(t *testing.T) {
	for _, tc := range []struct {
		noSkip   string
		wantFail bool
		wantText string
	}{
		{"", false, "--- SKIP: TestChild"},
		{"1", true, "forbids skipping"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v")
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

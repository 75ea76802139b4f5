//go:build !windows

package helperbackend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pkexec stands in for polkit's: it runs what it is given (as the real one
// does after the dialog), or exits as the real one does when the dialog is
// dismissed (126) or authorisation fails (127).
func fakePkexec(t *testing.T, body string) (argvFile, stdinFile string) {
	t.Helper()
	dir := t.TempDir()
	argvFile, stdinFile = filepath.Join(dir, "argv"), filepath.Join(dir, "stdin")
	script := "#!/bin/sh\necho \"$@\" > " + argvFile + "\ncat > " + stdinFile + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, "pkexec"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	return argvFile, stdinFile
}

func TestPkexecElevation(t *testing.T) {
	argv := []string{"/usr/bin/hyp", "helper", "add", "--force", "office", "-"}
	const uri = "hyp://10.77.1.1?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ\n"

	argvFile, stdinFile := fakePkexec(t, "exit 0")
	if err := platformElevate(context.Background(), argv, uri); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(argvFile)
	in, _ := os.ReadFile(stdinFile)
	if strings.TrimSpace(string(got)) != strings.Join(argv, " ") || string(in) != uri {
		t.Fatalf("pkexec got argv %q and stdin %q", got, in)
	}

	for _, code := range []string{"126", "127"} {
		fakePkexec(t, "echo 'Error executing command as another user: Not authorized' >&2; exit "+code)
		err := platformElevate(context.Background(), argv, uri)
		if err == nil || !strings.Contains(err.Error(), "not authorised: nothing was handed over") || !strings.Contains(err.Error(), "Not authorized") {
			t.Errorf("pkexec exit %s: %v", code, err)
		}
	}

	fakePkexec(t, "echo 'hyp helper add: helper profile \"office\": file already exists' >&2; exit 1")
	if err := platformElevate(context.Background(), argv, uri); err == nil || !strings.Contains(err.Error(), "file already exists") {
		t.Errorf("a failing hyp helper add: %v", err)
	}

	t.Setenv("PATH", t.TempDir())
	if err := platformElevate(context.Background(), argv, uri); err == nil || !strings.Contains(err.Error(), "pkexec (polkit) is not installed") || strings.Contains(err.Error(), "AAAQ") {
		t.Errorf("without pkexec: %v", err)
	}
}

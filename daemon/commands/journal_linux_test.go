//go:build linux

package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Under systemd, stderr is the journal's stream: lines go without our timestamp (the journal has
// its own) and with a syslog priority prefix. Started by hand, they keep the timestamp.
func TestLoggerUnderJournald(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}

	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	log, err := newLogger(f, "debug", nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Error("bad")
	log.Warn("careful")
	log.Info("fine")
	log.Debug("detail")

	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1)) // another stream: a shell's
	log, err = newLogger(f, "info", nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("by hand")

	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{`<3>level=ERROR msg=bad`, `<4>level=WARN msg=careful`, `<6>level=INFO msg=fine`, `<7>level=DEBUG msg=detail`}
	if len(lines) != 5 {
		t.Fatalf("got %d lines:\n%s", len(lines), b)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
		}
	}
	if !strings.HasPrefix(lines[4], "time=") || !strings.HasSuffix(lines[4], `msg="by hand"`) {
		t.Errorf("a logger on another stream: %q; want the timestamp kept and no priority", lines[4])
	}
}

//go:build unix

package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestRunRecord: a start with a trusted config file records its directories; a later lookup by
// the same path finds them, also through a relative path; entries of config files that are gone
// are dropped; a record others may write says nothing.
func TestRunRecord(t *testing.T) {
	needs.Root(t, "the record is read with the config file's trust checks, which want root's files")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	conf := filepath.Join(dir, "hypd.toml")
	gone := filepath.Join(dir, "gone.toml")
	for _, p := range []string{conf, gone} {
		if err := os.WriteFile(p, []byte("interfaces = [\"eth0\"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RecordRun(rec, conf, "/srv/hyp/state", "/srv/hyp/keys"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rec); err == nil {
		t.Fatal("RecordRun made the record's directory; it writes only into one that exists")
	}
	if _, ok := RecordedRunOf(rec, conf); ok {
		t.Fatal("a record that does not exist found a run")
	}
	if err := os.Mkdir(rec, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RecordRun(rec, gone, "/var/lib/gone", "/etc/gone/keys"); err != nil {
		t.Fatal(err)
	}
	if err := RecordRun(rec, conf, "/srv/hyp/state", "/srv/hyp/keys"); err != nil {
		t.Fatal(err)
	}
	run, ok := RecordedRunOf(rec, conf)
	if !ok || run.StateDir != "/srv/hyp/state" || run.KeysDir != "/srv/hyp/keys" {
		t.Fatalf("RecordedRunOf = %+v, %v; want /srv/hyp/state and /srv/hyp/keys", run, ok)
	}
	if fi, err := os.Stat(filepath.Join(rec, runRecordFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	wd, _ := os.Getwd()
	t.Cleanup(func() { _ = os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	if run, ok := RecordedRunOf(rec, "hypd.toml"); !ok || run.StateDir != "/srv/hyp/state" {
		t.Fatalf("by a relative path: %+v, %v", run, ok)
	}

	// The gone config's entry is dropped at the next write.
	if _, ok := RecordedRunOf(rec, gone); !ok {
		t.Fatal("the other config's run is missing before it is gone")
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := RecordRun(rec, conf, "/srv/hyp/state2", "/srv/hyp/keys"); err != nil {
		t.Fatal(err)
	}
	if _, ok := RecordedRunOf(rec, gone); ok {
		t.Error("the entry of a config file that no longer exists was kept")
	}
	if run, _ := RecordedRunOf(rec, conf); run.StateDir != "/srv/hyp/state2" {
		t.Errorf("the newer run did not replace the older: %+v", run)
	}

	// Written by someone else: no answer.
	if err := os.Chmod(filepath.Join(rec, runRecordFile), 0o666); err != nil {
		t.Fatal(err)
	}
	if run, ok := RecordedRunOf(rec, conf); ok {
		t.Errorf("a record others may write was believed: %+v", run)
	}
	// And the next start replaces it with one only root wrote.
	if err := RecordRun(rec, conf, "/srv/hyp/state3", "/srv/hyp/keys"); err != nil {
		t.Fatal(err)
	}
	if run, ok := RecordedRunOf(rec, conf); !ok || run.StateDir != "/srv/hyp/state3" {
		t.Errorf("after a fresh start: %+v, %v", run, ok)
	}
}

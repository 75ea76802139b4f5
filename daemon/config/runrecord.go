package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/hideyourports/hyp/internal/atomicfile"
)

// runRecordFile, in the default state directory, remembers for each config file hypd last
// started with (one it trusted) the state and keys directories it named. When hypd.toml is
// later refused at boot (someone else may have written it, the fourth attacker review), the
// directories it names now are the writer's choice: a state_dir pointed at their own
// protection.json that lists the service as public would leave nothing naming the real saved
// protection, and the service public after a reboot. The record is root's, in root's
// directory, so the fail-closed start still finds the protection the trusted file chose.
const runRecordFile = "runs.json"

// maxRecordedRuns bounds the record: one entry per config file, the newest first.
const maxRecordedRuns = 16

// RecordedRun is one config file's directories as hypd last started with them.
type RecordedRun struct {
	Config   string `json:"config"`
	StateDir string `json:"state_dir"`
	KeysDir  string `json:"keys_dir"`
}

type runRecord struct {
	Version int           `json:"version"`
	Runs    []RecordedRun `json:"runs"`
}

// RecordRun notes in dir's record that configPath (a file hypd trusted and started with) names
// stateDir and keysDir. Entries of config files that no longer exist are dropped. Where dir does
// not exist nothing is written: the service unit makes the default state directory
// (StateDirectory=hyp), as does a hypd that uses it, and a machine with neither, such as one
// running the test suite, gets no directory it did not ask for.
func RecordRun(dir, configPath, stateDir, keysDir string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil
	}
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return fmt.Errorf("recording the directories of %s: %w", configPath, err)
	}
	rec, err := readRunRecord(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A record that cannot be trusted is replaced by one that can.
		rec = runRecord{}
	}
	entry := RecordedRun{Config: abs, StateDir: stateDir, KeysDir: keysDir}
	runs := []RecordedRun{entry}
	for _, r := range rec.Runs {
		if r.Config == abs || len(runs) >= maxRecordedRuns {
			continue
		}
		if _, err := os.Lstat(r.Config); err != nil {
			continue
		}
		runs = append(runs, r)
	}
	if rec.Version == 1 && slices.Equal(rec.Runs, runs) {
		return nil
	}
	b, err := json.MarshalIndent(runRecord{Version: 1, Runs: runs}, "", "  ")
	if err != nil {
		return fmt.Errorf("recording the directories of %s: %w", configPath, err)
	}
	if err := atomicfile.Write(filepath.Join(dir, runRecordFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("recording the directories of %s: %w", configPath, err)
	}
	return nil
}

// RecordedRunOf returns the directories configPath named when hypd last started with it, from
// dir's record; ok is false when there is none, or the record is not one only root can have
// written (then it says nothing).
func RecordedRunOf(dir, configPath string) (run RecordedRun, ok bool) {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return RecordedRun{}, false
	}
	rec, err := readRunRecord(dir)
	if err != nil {
		return RecordedRun{}, false
	}
	for _, r := range rec.Runs {
		if r.Config == abs && filepath.IsAbs(r.StateDir) && filepath.IsAbs(r.KeysDir) {
			return r, true
		}
	}
	return RecordedRun{}, false
}

// readRunRecord reads dir's record with the config file's trust checks: root's file, written by
// nobody else, on a way nobody else may change.
func readRunRecord(dir string) (runRecord, error) {
	path := filepath.Join(dir, runRecordFile)
	data, err := readTrusted(path)
	if err != nil {
		return runRecord{}, err
	}
	var rec runRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return runRecord{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if rec.Version != 1 {
		return runRecord{}, fmt.Errorf("reading %s: unknown version %d", path, rec.Version)
	}
	return rec, nil
}

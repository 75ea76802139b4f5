// Package spent remembers which knock sequences have been used, so that a sequence grants access
// once only, also across a restart of hypd.
//
// A sequence is named by the key's public fingerprint, its time window and its use counter. Entries
// are kept only while their window can still be accepted; the file stays small whatever the uptime.
// Every change is written atomically (temporary file, fsync, rename), so a crash leaves either the
// old state or the new one, never a torn file that would let a spent sequence in again.
package spent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Use names one sequence: which key, which time window, which use counter.
type Use struct {
	KeyID   string `json:"key"`
	Window  uint64 `json:"window"`
	Counter uint32 `json:"counter"`
}

// Store is the set of spent sequences, persisted in one JSON file.
type Store struct {
	path string // empty: memory only

	mu   sync.Mutex // guards used
	used map[Use]struct{}
}

// fileFormat is what the state file holds; a version field leaves room to change it.
type fileFormat struct {
	Version int   `json:"version"`
	Spent   []Use `json:"spent"`
}

// Open loads the store from path, creating nothing until the first Spend. An empty path keeps
// the store in memory (for tests and for running without a state directory).
func Open(path string) (*Store, error) {
	s := &Store{path: path, used: make(map[Use]struct{})}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading spent-sequence state: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading spent-sequence state %s: %w (move the file away to start afresh)", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("reading spent-sequence state %s: unknown version %d", path, f.Version)
	}
	for _, u := range f.Spent {
		s.used[u] = struct{}{}
	}
	return s, nil
}

// Spent reports whether u has been used.
func (s *Store) Spent(u Use) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.used[u]
	return ok
}

// Spend marks u used and persists the store before it returns, so that access is granted only
// after the use is on disk. It reports false if u was already spent.
func (s *Store) Spend(u Use) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.used[u]; ok {
		return false, nil
	}
	s.used[u] = struct{}{}
	if err := s.saveLocked(); err != nil {
		return true, err
	}
	return true, nil
}

// Prune forgets uses whose window is older than keep(KeyID) says: keep returns the oldest window
// still accepted for that key, or false when the key is gone.
func (s *Store) Prune(oldest func(keyID string) (uint64, bool)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for u := range s.used {
		if w, ok := oldest(u.KeyID); !ok || u.Window < w {
			delete(s.used, u)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return s.saveLocked()
}

// Len is the number of spent sequences remembered.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used)
}

func (s *Store) saveLocked() error {
	if s.path == "" {
		return nil
	}
	f := fileFormat{Version: 1, Spent: make([]Use, 0, len(s.used))}
	for u := range s.used {
		f.Spent = append(f.Spent, u)
	}
	sort.Slice(f.Spent, func(i, j int) bool {
		a, b := f.Spent[i], f.Spent[j]
		if a.KeyID != b.KeyID {
			return a.KeyID < b.KeyID
		}
		if a.Window != b.Window {
			return a.Window < b.Window
		}
		return a.Counter < b.Counter
	})
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding spent-sequence state: %w", err)
	}
	if err := WriteFileAtomic(s.path, b, 0o600); err != nil {
		return fmt.Errorf("saving spent-sequence state: %w", err)
	}
	return nil
}

// WriteFileAtomic replaces path with data so that readers and crashes see the old or the new
// content, never a mix: write a temporary file in the same directory, fsync it, rename it over
// path, fsync the directory.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("creating temporary file in %s: %w", dir, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

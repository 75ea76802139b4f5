package knockstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// FileName is the state file's name in its directory.
const FileName = "knocks.json"

// File is the state kept in a file, shared by every hyp process of one user
// (the CLI, the tray) or by the helper service. A lock file beside it
// (Path + ".lock") serialises reservations across processes; the state itself
// is replaced atomically, so a crash leaves the old state or the new one.
type File struct {
	Path string

	mu sync.Mutex // serialises this process's reservations: a lock file is per process on some systems
}

// DefaultPath is the user's state file: $XDG_STATE_HOME/hyp/knocks.json
// (~/.local/state/hyp) on Linux and other Unix systems, %LOCALAPPDATA%\hyp
// on Windows, ~/Library/Application Support/hyp on macOS.
func DefaultPath() (string, error) {
	dir, err := stateDir()
	if err != nil {
		return "", fmt.Errorf("finding the directory for the knock state: %w", err)
	}
	return filepath.Join(dir, "hyp", FileName), nil
}

func stateDir() (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return d, nil
		}
		return "", errors.New("%LOCALAPPDATA% is not set")
	case "darwin", "ios":
		return os.UserConfigDir()
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "state"), nil
}

// Reserve implements Reserver: under the lock, it reads the file, picks the
// next use, and writes the file back before returning the use.
func (f *File) Reserve(k psk.Key, p sequence.Params, gateway string, uses int, now time.Time) (Use, error) {
	var u Use
	err := f.update(func(s *state) (err error) {
		u, err = s.reserve(k, p, gateway, uses, now)
		return err
	})
	return u, err
}

// Record implements Reserver.
func (f *File) Record(k psk.Key, p sequence.Params, gateway string, o Outcome, now time.Time) (int, error) {
	var n int
	err := f.update(func(s *state) error {
		n = s.record(k, p, gateway, o, now)
		return nil
	})
	return n, err
}

// Recent implements Reserver. It only reads: no lock file is needed for a
// file that is replaced atomically.
func (f *File) Recent(k psk.Key, p sequence.Params, gateway string, now time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.read()
	if err != nil {
		return false, err
	}
	return s.recent(k, p, gateway, now), nil
}

// update runs change on the state under the lock and writes the result
// back; an error from change leaves the file as it was.
func (f *File) update(change func(*state) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := checkCreatePlace(filepath.Dir(f.Path)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("creating the knock state directory: %w", err)
	}
	if err := checkOwnDir(filepath.Dir(f.Path)); err != nil {
		return err
	}
	unlock, err := lockFile(f.Path + ".lock")
	if err != nil {
		return fmt.Errorf("locking the knock state %s: %w", f.Path, err)
	}
	defer unlock()
	s, err := f.read()
	if err != nil {
		return err
	}
	if err := change(s); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding the knock state: %w", err)
	}
	if err := atomicfile.Write(f.Path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the knock state: %w", err)
	}
	return nil
}

// read loads the state; a missing file is an empty state. A damaged one is
// an error rather than a fresh start, which could resend spent sequences
// without a word.
func (f *File) read() (*state, error) {
	sf, err := openState(f.Path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return &state{Version: version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the knock state: %w", err)
	}
	b, err := io.ReadAll(sf)
	sf.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the knock state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("the knock state %s is damaged (%v); remove it to start afresh (knocks within the next minute may then be ignored by the gateway)", f.Path, err)
	}
	if s.Version != version {
		return nil, fmt.Errorf("the knock state %s has version %d, this hyp reads version %d", f.Path, s.Version, version)
	}
	return &s, nil
}

// Memory is the state in memory: for tests, and for a caller that must not
// write files. It is safe for concurrent use.
type Memory struct {
	mu sync.Mutex // guards s
	s  state
}

// Reserve implements Reserver.
func (m *Memory) Reserve(k psk.Key, p sequence.Params, gateway string, uses int, now time.Time) (Use, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.reserve(k, p, gateway, uses, now)
}

// Recent implements Reserver.
func (m *Memory) Recent(k psk.Key, p sequence.Params, gateway string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.recent(k, p, gateway, now), nil
}

// Record implements Reserver.
func (m *Memory) Record(k psk.Key, p sequence.Params, gateway string, o Outcome, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.record(k, p, gateway, o, now), nil
}

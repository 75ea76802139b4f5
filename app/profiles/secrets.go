package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/hideyourports/hyp/core/keyfile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// ErrNoSecret means the store holds no secret for the profile.
var ErrNoSecret = errors.New("no secret stored")

// SecretStore keeps one key per profile name. Implementations never put the
// key in an error.
type SecretStore interface {
	Get(name string) (psk.Key, error) // ErrNoSecret when absent
	Set(name string, k psk.Key) error // adds or replaces
	Delete(name string) error         // ErrNoSecret when absent
}

// Memory is an in-memory SecretStore for tests and for callers that hold a
// key only for the life of the process.
type Memory struct {
	mu   sync.Mutex // guards keys
	keys map[string]psk.Key
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{keys: map[string]psk.Key{}} }

// Get implements SecretStore.
func (m *Memory) Get(name string) (psk.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[name]
	if !ok {
		return psk.Key{}, fmt.Errorf("profile %q: %w", name, ErrNoSecret)
	}
	return k, nil
}

// Set implements SecretStore.
func (m *Memory) Set(name string, k psk.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]psk.Key{}
	}
	m.keys[name] = k
	return nil
}

// Delete implements SecretStore.
func (m *Memory) Delete(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[name]; !ok {
		return fmt.Errorf("profile %q: %w", name, ErrNoSecret)
	}
	delete(m.keys, name)
	return nil
}

// Len reports how many secrets the store holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

// FileSecret keeps one profile's key in one file, mode 0600: the explicit
// choice for machines without a keyring. It reads key files as core/keyfile
// reads them for hyp and hypd: the reference hyp client's (base32 on one
// line) and the gateway's TOML ones (`secret = "…"`, what `hypd secret new`
// writes). The name argument of the SecretStore methods is ignored: the file
// belongs to one profile.
type FileSecret struct {
	Path string
}

// Get implements SecretStore.
func (f FileSecret) Get(string) (psk.Key, error) {
	if _, err := os.Stat(f.Path); errors.Is(err, fs.ErrNotExist) {
		return psk.Key{}, fmt.Errorf("secret file %s: %w", f.Path, ErrNoSecret)
	}
	kf, err := keyfile.ReadFile(f.Path)
	if err != nil {
		return psk.Key{}, err // names the file and line, never the key
	}
	return kf.Secret, nil
}

// Set implements SecretStore: the file is replaced atomically with mode 0600 (on Windows, an
// ACL admitting only this user, SYSTEM and Administrators). A file that holds k already is left
// as it is: saving a profile (the tray saves on every edit) must not rewrite a gateway's TOML
// key file, and its other settings with it, as a bare key.
func (f FileSecret) Set(_ string, k psk.Key) error {
	if kf, err := keyfile.ReadFile(f.Path); err == nil && kf.Secret.Equal(k) {
		return nil
	}
	if err := atomicfile.Write(f.Path, []byte(k.Encode()+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing secret file: %w", err)
	}
	return restrictToOwner(f.Path)
}

// LooseKeyFix is the command that makes the key file at path private on this system.
func LooseKeyFix(path string) string { return looseKeyFix(path) }

// Delete implements SecretStore.
func (f FileSecret) Delete(string) error {
	err := os.Remove(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("secret file %s: %w", f.Path, ErrNoSecret)
	}
	return err
}

// LooseMode reports the permission bits of path that give group or others
// access, so callers can warn about a key file a reference client left 0644.
func LooseMode(path string) (fs.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Mode().Perm() & 0o077, nil
}

package profiles

import (
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/hideyourports/hyp/core/psk"
)

// DefaultService is the keyring service name under which hyp keeps keys; the
// keyring user is the profile name.
const DefaultService = "hyp"

// DefaultKeyringTimeout bounds one keyring call. A locked Secret Service may
// wait for a prompt nobody will answer on a headless machine; failing with a
// reason beats hanging.
const DefaultKeyringTimeout = 15 * time.Second

// ErrNoKeyring means there is no OS keyring to talk to (no Secret Service on
// D-Bus, no session bus at all). Callers suggest a secret file instead.
var ErrNoKeyring = errors.New("no OS keyring available")

// KeyringError is a failure of the OS keyring itself, as opposed to a missing
// entry. It never holds key material: go-keyring's errors are about D-Bus and
// the platform API.
type KeyringError struct {
	Op  string // "get", "set", "delete"
	Err error
}

func (e *KeyringError) Error() string { return "OS keyring " + e.Op + ": " + e.Err.Error() }
func (e *KeyringError) Unwrap() error { return e.Err }

// Keyring is the SecretStore of the OS: the Secret Service on Linux and the
// BSDs, the Credential Manager on Windows, the login keychain on macOS.
type Keyring struct {
	Service string        // "" => DefaultService
	Timeout time.Duration // per call; 0 => DefaultKeyringTimeout
}

func (k Keyring) service() string {
	if k.Service == "" {
		return DefaultService
	}
	return k.Service
}

// call runs f with the timeout. On timeout the goroutine is abandoned: the
// D-Bus call cannot be cancelled, and the caller is better served by an error.
func (k Keyring) call(op string, f func() error) error {
	if err := keyringReachable(); err != nil {
		return &KeyringError{Op: op, Err: err}
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultKeyringTimeout
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, keyring.ErrNotFound):
			return ErrNoSecret
		case errors.Is(err, keyring.ErrUnsupportedPlatform):
			return &KeyringError{Op: op, Err: fmt.Errorf("%w: %v", ErrNoKeyring, err)}
		}
		return &KeyringError{Op: op, Err: err}
	case <-t.C:
		return &KeyringError{Op: op, Err: fmt.Errorf("no answer in %v (is the keyring locked and waiting for a password prompt?)", timeout)}
	}
}

// Get implements SecretStore.
func (k Keyring) Get(name string) (psk.Key, error) {
	var text string
	err := k.call("get", func() error {
		var err error
		text, err = keyring.Get(k.service(), name)
		return err
	})
	if err != nil {
		return psk.Key{}, fmt.Errorf("secret of profile %q: %w", name, err)
	}
	key, err := psk.Parse(text)
	if err != nil {
		return psk.Key{}, fmt.Errorf("secret of profile %q in the OS keyring: %w", name, err)
	}
	return key, nil
}

// Set implements SecretStore.
func (k Keyring) Set(name string, key psk.Key) error {
	text := key.Encode()
	if err := k.call("set", func() error { return keyring.Set(k.service(), name, text) }); err != nil {
		return fmt.Errorf("storing the secret of profile %q: %w", name, err)
	}
	return nil
}

// Delete implements SecretStore.
func (k Keyring) Delete(name string) error {
	if err := k.call("delete", func() error { return keyring.Delete(k.service(), name) }); err != nil {
		return fmt.Errorf("removing the secret of profile %q: %w", name, err)
	}
	return nil
}

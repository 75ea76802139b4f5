// Package profiles is the client's store of saved gateways: one file of
// non-secret settings under the user's config directory, and the secrets in
// the OS keyring (or, explicitly, in a 0600 file per profile).
//
// The settings file and the secrets are kept apart on purpose: the file can be
// backed up, diffed and synced without leaking a key, and a key never lands in
// a dotfiles repository by accident. The file is rewritten atomically (temp
// file, fsync, rename) so a crash leaves the old or the new version, and a file
// that does not parse is reported with its path and line and never replaced.
package profiles

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
)

// Defaults of a new profile.
const (
	// DefaultGap keeps knock datagrams in order on paths that reorder
	// back-to-back packets; the CLI's knock uses the same.
	DefaultGap = 10 * time.Millisecond
	// MaxNameLen bounds a profile name; names are keyring user names and
	// file names in the helper's store, so they stay short and plain.
	MaxNameLen = 64
	// MinKeepAlive stops a typo ("5s" for "5m") from flooding a gateway.
	MinKeepAlive = 5 * time.Second
)

// ErrNotFound means no profile has the name asked for.
var ErrNotFound = errors.New("no such profile")

// Profile is one saved gateway: the hyp:// parameters (embedded, with the key
// filled in only by Store.Get) and how this client uses them.
type Profile struct {
	profile.Profile

	// Gap is the wait between knock datagrams.
	Gap time.Duration
	// KeepAlive, when positive, re-knocks at this interval while the VPN
	// command runs (or, with no command, until cancelled), so the grant never
	// lapses.
	KeepAlive time.Duration
	// Uses is how many knocks per time step the gateway accepts for this
	// key (hypd's uses setting); 0 means 1, the default. With more, a new
	// knock steps the use counter before it moves to the next time step.
	Uses int
	// Command is the VPN launch command as argv, run without a shell so
	// nothing in a profile is ever interpreted by one. Empty: knock only.
	Command []string
	// AlwaysOn marks profiles the tray connects at start and the helper
	// service keeps alive.
	AlwaysOn bool
	// SecretFile, when set, names the 0600 file that holds the key instead
	// of the OS keyring (headless machines, reference hyp key files).
	SecretFile string
	// SiteList, when set, is the gateways this key knocks, tried in order
	// (see Sites and At); the embedded Host and realm are then its first's.
	SiteList []Site
}

// FromURI makes a profile from a parsed hyp:// URI with this client's
// defaults. The name is the one given, else the URI's name parameter.
func FromURI(name string, p profile.Profile) Profile {
	if name != "" {
		p.Name = name
	}
	return Profile{Profile: p, Gap: DefaultGap}
}

// Clone returns a copy that shares no slices with p.
func (p Profile) Clone() Profile {
	p.Command = slices.Clone(p.Command)
	p.SiteList = slices.Clone(p.SiteList)
	return p
}

// Validate checks everything but the key, naming the first bad field.
func (p Profile) Validate() error {
	if err := ValidateName(p.Name); err != nil {
		return err
	}
	if _, err := profile.ParseHost(p.Host); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if err := p.Params.Validate(); err != nil {
		return fmt.Errorf("knock parameters: %w", err)
	}
	switch {
	case p.Gap < 0 || p.Gap > 10*time.Second:
		return fmt.Errorf("gap: must be 0..10s, got %v", p.Gap)
	case p.KeepAlive < 0:
		return fmt.Errorf("keepalive: must not be negative, got %v", p.KeepAlive)
	case p.KeepAlive > 0 && p.KeepAlive < MinKeepAlive:
		return fmt.Errorf("keepalive: must be at least %v, got %v", MinKeepAlive, p.KeepAlive)
	case p.Uses < 0 || p.Uses > sequence.MaxUses:
		return fmt.Errorf("uses: must be 0..%d, got %d", sequence.MaxUses, p.Uses)
	case p.Uses > 1 && p.Params.Scheme == sequence.Hyp:
		return fmt.Errorf("uses: scheme hyp has no use counter, so uses must be 1, got %d", p.Uses)
	}
	if err := p.validateSites(); err != nil {
		return err
	}
	if len(p.Command) > 0 && strings.TrimSpace(p.Command[0]) == "" {
		return errors.New("command: the program (first word) is empty")
	}
	for i, a := range p.Command {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("command: argument %d holds a NUL byte", i)
		}
	}
	return nil
}

// ValidateName accepts 1..MaxNameLen characters of letters, digits, '.', '-',
// '_' and '@', starting with a letter or digit: the name is a keyring user,
// a file name in the helper's store and a CLI argument, so nothing that a
// shell, a path or a URI would read differently.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("profile name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("profile name is longer than %d characters", MaxNameLen)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i > 0 {
			ok = ok || r == '.' || r == '-' || r == '_' || r == '@'
		}
		if !ok {
			return fmt.Errorf("profile name %q: use letters, digits and . - _ @ (starting with a letter or digit)", name)
		}
	}
	return nil
}

package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// protectionFile, in the state directory, is the last protection hypd applied. It is what makes
// protection outlive the files that asked for it: a key file deleted (revoked), made unreadable
// or broken by a typo, or a hypd.toml that no longer parses at boot, must never take a service
// out of the protected set. Only `hypd unprotect` (or a valid config that makes a service public)
// does that, on purpose.
const protectionFile = "protection.json"

// Protection is what the table hides and how.
type Protection struct {
	Version   int                 `json:"version"`
	Protected []protected.Service `json:"protected"`
	Public    []protected.Service `json:"public"`
	Stealth   bool                `json:"stealth"`
}

// maxProtectionFile bounds what is read of a protection file (another user's, when a refused
// hypd.toml names their directory, may be anything: a sparse file of a tebibyte was allocated
// whole). It is about four times the largest file hypd can write: every service of both
// protocols (2 × 65,535; a service is either protected or public) is 2.2 MB as saveProtection
// writes it (TestProtectionFileBound). A larger regular file is damaged: hypd did not write it.
const maxProtectionFile = 8 << 20

// loadProtection reads the last protection from dir; ok is false when there is none yet. It
// reads as the fail-closed start does (openStateDir): bounded, regular files only.
func loadProtection(dir string) (p Protection, ok bool, err error) {
	d, err := openStateDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return Protection{}, false, nil
	}
	if err != nil {
		return Protection{}, false, fmt.Errorf("reading the last protection: %w", err)
	}
	defer d.Close()
	return d.load()
}

// decodeProtection parses what was read from path: anything but a protection hypd wrote is
// damaged.
func decodeProtection(path string, b []byte) (Protection, error) {
	var p Protection
	if err := json.Unmarshal(b, &p); err != nil {
		return Protection{}, &damagedError{path: path, err: err}
	}
	if p.Version != 1 {
		return Protection{}, &damagedError{path: path, err: fmt.Errorf("unknown version %d", p.Version)}
	}
	return p, nil
}

// damagedError says the protection file was read but is not one hypd wrote.
type damagedError struct {
	path string
	err  error
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("reading the last protection %s: %v", e.path, e.err)
}

func (e *damagedError) Unwrap() error { return e.err }

// saveProtection writes p to dir atomically.
func saveProtection(dir string, p Protection) error {
	p.Version = 1
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the protection: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, protectionFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the protection: %w", err)
	}
	return nil
}

// Origin says why a service is protected.
type Origin struct {
	Service protected.Service
	// From lists "config" and "key NAME" for each source that names the service; empty when
	// nothing names it any more and it is kept from an earlier run or configuration.
	From []string
}

// protection computes what to hide: every service the config or a loaded key names, plus every
// service kept from before, less what a valid config now makes public. It returns the services
// sorted, with their origins.
func protection(cfg config.Config, keys []config.Key, kept []protected.Service) []Origin {
	from := map[protected.Service][]string{}
	// A set beside each list: with 100,000 keys a search of the list per key would take a minute.
	named := map[protected.Service]map[string]bool{}
	add := func(svcs []protected.Service, who string) {
		for _, s := range svcs {
			if named[s] == nil {
				named[s] = map[string]bool{}
			}
			if !named[s][who] {
				named[s][who] = true
				from[s] = append(from[s], who)
			}
		}
	}
	add(cfg.Services, "config")
	for _, k := range keys {
		add(k.Services, "key "+k.Name)
	}
	for _, s := range kept {
		if _, ok := from[s]; !ok {
			from[s] = nil
		}
	}
	for _, s := range cfg.Public {
		delete(from, s)
	}
	out := make([]Origin, 0, len(from))
	for s, f := range from {
		out = append(out, Origin{Service: s, From: f})
	}
	sort.Slice(out, func(i, j int) bool { return lessService(out[i].Service, out[j].Service) })
	return out
}

func lessService(a, b protected.Service) bool {
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	return a.Port < b.Port
}

func servicesOf(origins []Origin) []protected.Service {
	out := make([]protected.Service, len(origins))
	for i, o := range origins {
		out[i] = o.Service
	}
	return out
}

// checkStateDir makes sure hypd can write its state before it changes anything in the kernel: a
// grant must be recorded as spent before it opens, so a state directory hypd cannot write would
// turn every knock away after the table was already in place.
func checkStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return stateDirError(dir, err)
	}
	f, err := os.CreateTemp(dir, ".hypd-write-check-*")
	if err != nil {
		return stateDirError(dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("hypd\n"))
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(name)
	if err := errors.Join(werr, serr, cerr, rerr); err != nil {
		return stateDirError(dir, err)
	}
	return nil
}

func stateDirError(dir string, err error) error {
	msg := fmt.Errorf("state_dir %s is not writable: %w; nothing was changed (hypd records spent knocks there)", dir, err)
	if dir != config.DefaultStateDir && os.Geteuid() == 0 {
		// Root that cannot write: most likely the unit's sandbox, which allows only its own.
		return fmt.Errorf("%w. Under the systemd unit only %s is writable (ProtectSystem=strict): use it, or allow this directory with `systemctl edit hypd` and ReadWritePaths=%s", msg, config.DefaultStateDir, dir)
	}
	return msg
}

// publicOfAll is what a start without a configuration may leave public: a service every saved
// protection lists as public and none protects. A protection.json in a directory that a refused
// hypd.toml names (one another user may have written: the fourth attacker review) must not
// un-hide what another saved protection hides; hiding too much only waits for the admin.
func publicOfAll(lasts []Protection) []protected.Service {
	if len(lasts) == 0 {
		return nil
	}
	out := slices.Clone(lasts[0].Public)
	for _, last := range lasts {
		out = slices.DeleteFunc(out, func(s protected.Service) bool {
			return !slices.Contains(last.Public, s) || slices.Contains(last.Protected, s)
		})
	}
	for _, last := range lasts {
		out = slices.DeleteFunc(out, func(s protected.Service) bool { return slices.Contains(last.Protected, s) })
	}
	return out
}

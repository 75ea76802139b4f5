package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the keys directory must be quiet before a
// change is signalled: an editor's save or `hypd secret new` is a burst of
// create, write, chmod and rename events that should cause one reload.
const DefaultDebounce = 250 * time.Millisecond

// maxWaitFactor bounds how long a change may wait for quiet: a pending change is signalled
// at the latest this many debounces after its first event, however many events follow. Without
// the bound, anyone able to make events in a watched directory (another user writing into a
// shared directory on the way, say) more often than the debounce would keep a key's removal
// from ever being signalled (the third attacker review).
const maxWaitFactor = 4

// MissingGrace is how long the keys directory may be missing before its
// absence is signalled as a change (which leaves the gateway with no keys):
// a directory swapped in two renames (mv keys keys.old; mv keys.new keys) is
// missing for a moment, and that moment must not read as "every key gone".
const MissingGrace = 2 * time.Second

// dataLink is the symlink a Kubernetes secret or configMap volume swaps to
// publish a new set of files at once; hidden, but its rename is the change.
const dataLink = "..data"

// SafetyInterval is how often the watcher checks, without any event, that the keys directory
// path still names the directory it watches: a swap somewhere no watch sees (an ancestor
// directory renamed, say) is then a change within this long.
const SafetyInterval = 10 * time.Second

// Watcher signals changes to the key files of one directory, including the
// directory itself being replaced as a whole: by a rename over a symlink to
// it (anywhere in the chain of symlinks its path goes through), by two
// renames or an exchange (what Ansible, Salt or a Vault agent do with a
// staged directory), or by the ..data symlink swap of a Kubernetes volume.
// Each such swap is one change, signalled once the new directory is in
// place and watched. A directory that is missing is waited for: the
// nearest existing directory above it is watched until it appears.
type Watcher struct {
	fsw     *fsnotify.Watcher
	dir     string // as given, cleaned: the path whose target may change
	changed chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	// Only loop's goroutine (and Watch, before it starts) uses these.
	watched []string        // what fsw watches: the directories of the chain, the keys directory last
	self    map[string]bool // event names that mean the path may name another directory now
	real    string          // the directory the path named when last watched; "" while missing
	ident   dirIdentity     // real's identity then, for the safety check

	// mu guards closed, so Close is safe to call twice and concurrently.
	mu     sync.Mutex
	closed bool
}

// dirIdentity is what the safety check compares: where the path leads, and which directory
// (by inode) is there.
type dirIdentity struct {
	real string
	fi   os.FileInfo
}

func (a dirIdentity) same(b dirIdentity) bool {
	if a.real != b.real || (a.fi == nil) != (b.fi == nil) {
		return false
	}
	return a.fi == nil || os.SameFile(a.fi, b.fi)
}

// identify is what dir names now; a missing directory has the zero identity.
func identify(dir string) dirIdentity {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return dirIdentity{}
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.IsDir() {
		return dirIdentity{}
	}
	return dirIdentity{real: real, fi: fi}
}

// Watch starts watching dir, and for dir itself being replaced: the
// directory holding it and the directory holding each symlink its path goes
// through. After events stop for debounce (0 means DefaultDebounce), or at the
// latest 4 debounces after the first of them if they never stop, one value is sent on Changed; changes while the last signal is still unread
// merge into it. Events for ignored files (hidden, backups, WriteKeyFile's
// temporary file) do not count, except the ..data link of a Kubernetes
// volume. If the watch itself reports an error, such as a queue overflow, a
// change is signalled too, since events may have been lost. Every
// SafetyInterval the path is resolved again, and a directory other than the
// one watched is a change too, whatever the events said. A dir that does not
// exist yet is watched for: its appearance is a change.
func Watch(dir string, debounce time.Duration) (*Watcher, error) {
	return watch(dir, debounce, SafetyInterval)
}

func watch(dir string, debounce, safety time.Duration) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	dir = filepath.Clean(dir)
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching keys directory %s: %w", dir, err)
	}
	w := &Watcher{fsw: fsw, dir: dir, changed: make(chan struct{}, 1), done: make(chan struct{})}
	if _, err := w.rewatch(); err != nil {
		return nil, errors.Join(err, fsw.Close())
	}
	w.wg.Add(1)
	go w.loop(debounce, safety)
	return w, nil
}

// Changed delivers one value per debounced burst of changes.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// counts says whether an event is a change of the key set: an event for a
// link or directory on the way to the keys directory (self: the path may
// name another directory now), or for a key file in it; not one for the
// other entries of the directories above (hypd.toml).
func (w *Watcher) counts(name string) (counts, self bool) {
	if w.self[name] || slices.Contains(w.watched, name) {
		return true, true
	}
	if w.real == "" || filepath.Dir(name) != w.real {
		return false, false
	}
	base := filepath.Base(name)
	return base == dataLink || !ignored(base), false
}

func (w *Watcher) loop(debounce, safety time.Duration) {
	defer w.wg.Done()
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	tick := time.NewTicker(safety)
	defer tick.Stop()
	// rewatch is set when the directory itself changed: the watch must follow the path to
	// whatever directory it names now before the change is signalled.
	rewatch := false
	// missingSince is when the directory was first found missing; zero while it is there. A
	// directory missing from the start is in that state already: nothing was loaded from it.
	var missingSince time.Time
	if w.real == "" {
		missingSince = time.Now()
	}
	// pendingSince is when the first event of the change not yet signalled came; zero when
	// none is pending. arm restarts the debounce, but never past pendingSince + maxWait.
	var pendingSince time.Time
	maxWait := maxWaitFactor * debounce
	arm := func() {
		now := time.Now()
		if pendingSince.IsZero() {
			pendingSince = now
		}
		timer.Reset(min(debounce, max(0, pendingSince.Add(maxWait).Sub(now))))
	}
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			counts, self := w.counts(ev.Name)
			if !counts {
				continue
			}
			rewatch = rewatch || self
			arm()
		case _, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// Events may have been lost, the directory's own among them.
			rewatch = true
			arm()
		case <-tick.C:
			// The safety net: a swap no watched directory saw (an ancestor renamed) still
			// changes what the path resolves to, or the directory found there.
			if !rewatch && !identify(w.dir).same(w.ident) {
				rewatch = true
				arm()
			}
		case <-timer.C:
			pendingSince = time.Time{}
			if rewatch {
				present, err := w.rewatch()
				switch {
				case err != nil:
					// Watched or not, the keys must be read again; rewatch stays set, so the
					// next event on the way to the directory, or the safety check, tries the
					// watch again.
				case present:
					rewatch, missingSince = false, time.Time{}
				case missingSince.IsZero() || time.Since(missingSince) < MissingGrace:
					// Missing: most likely between the two renames of a swap. Look again
					// shortly; the keys loaded stay as they are meanwhile.
					if missingSince.IsZero() {
						missingSince = time.Now()
					}
					timer.Reset(debounce)
					continue
				default:
					// Gone for good: signal once, so the gateway drops the keys (fails
					// closed). The directory above it sees it come back.
					rewatch = false
				}
			}
			select {
			case w.changed <- struct{}{}:
			default: // a signal is already pending; it covers this change
			}
		case <-w.done:
			return
		}
	}
}

// rewatch points the watches at what the path names now: the directories holding each link on
// the way and the one holding the directory (or, while it is missing, the nearest one that
// exists), and the directory itself. It reports whether the directory is there.
func (w *Watcher) rewatch() (present bool, err error) {
	ch, err := walkPath(w.dir)
	if err != nil {
		return false, fmt.Errorf("watching keys directory %s: %w", w.dir, err)
	}
	want := slices.Clone(ch.parents)
	w.self = map[string]bool{}
	for _, l := range ch.links {
		w.self[l] = true
	}
	w.real = ""
	if ch.target != "" {
		w.self[ch.target] = true
		if fi, err := os.Stat(ch.target); err == nil && fi.IsDir() {
			w.real = ch.target
			want = append(want, ch.target)
		}
	} else {
		w.self[ch.missing] = true
	}
	w.ident = identify(w.dir)
	// Every watch is set again, not only the new ones: a directory of the same name may be
	// another directory now. The old watches may already be gone (a directory removed).
	for _, d := range w.watched {
		_ = w.fsw.Remove(d)
	}
	w.watched = nil
	var errs []error
	for _, d := range want {
		if err := w.fsw.Add(d); err != nil {
			errs = append(errs, fmt.Errorf("watching %s, on the way to the keys directory %s: %w", d, w.dir, err))
			continue
		}
		w.watched = append(w.watched, d)
	}
	if len(errs) > 0 {
		// Not watched as it should be: let the safety check find this identity different and
		// try again.
		w.ident = dirIdentity{}
	}
	return w.real != "", errors.Join(errs...)
}

// Close stops watching and waits for the watcher's goroutine to end.
func (w *Watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	close(w.done)
	err := w.fsw.Close()
	w.wg.Wait()
	if err != nil {
		return fmt.Errorf("closing keys directory watcher: %w", err)
	}
	return nil
}

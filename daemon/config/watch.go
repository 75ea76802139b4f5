package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the keys directory must be quiet before a
// change is signalled: an editor's save or `hypd secret new` is a burst of
// create, write, chmod and rename events that should cause one reload.
const DefaultDebounce = 250 * time.Millisecond

// MissingGrace is how long the keys directory may be missing before its
// absence is signalled as a change (which leaves the gateway with no keys):
// a directory swapped in two renames (mv keys keys.old; mv keys.new keys) is
// missing for a moment, and that moment must not read as "every key gone".
const MissingGrace = 2 * time.Second

// dataLink is the symlink a Kubernetes secret or configMap volume swaps to
// publish a new set of files at once; hidden, but its rename is the change.
const dataLink = "..data"

// Watcher signals changes to the key files of one directory, including the
// directory itself being replaced as a whole: by a rename over a symlink to
// it, by two renames or an exchange (what Ansible, Salt or a Vault agent
// do with a staged directory), or by the ..data symlink swap of a
// Kubernetes volume. Each such swap is one change, signalled once the new
// directory is in place and watched.
type Watcher struct {
	fsw     *fsnotify.Watcher
	dir     string // as given, cleaned: the path whose target may change
	changed chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	// mu guards closed, so Close is safe to call twice and concurrently.
	mu     sync.Mutex
	closed bool
}

// Watch starts watching dir, and dir's parent for dir itself being
// replaced. After events stop for debounce (0 means DefaultDebounce), one
// value is sent on Changed; changes while the last signal is still unread
// merge into it. Events for ignored files (hidden, backups, WriteKeyFile's
// temporary file) do not count, except the ..data link of a Kubernetes
// volume. If the watch itself reports an error, such as a queue overflow, a
// change is signalled too, since events may have been lost.
func Watch(dir string, debounce time.Duration) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	dir = filepath.Clean(dir)
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching keys directory %s: %w", dir, err)
	}
	if err := fsw.Add(dir); err != nil {
		return nil, errors.Join(fmt.Errorf("watching keys directory %s: %w", dir, err), fsw.Close())
	}
	if err := fsw.Add(filepath.Dir(dir)); err != nil {
		return nil, errors.Join(fmt.Errorf("watching the directory above the keys directory %s, for the keys directory being replaced: %w", dir, err), fsw.Close())
	}
	w := &Watcher{fsw: fsw, dir: dir, changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.wg.Add(1)
	go w.loop(debounce)
	return w, nil
}

// Changed delivers one value per debounced burst of changes.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// counts says whether an event is a change of the key set: an event for the
// directory itself (in the parent, or on the directory's own watch), or
// for a key file in it; not one for the parent's other entries (hypd.toml).
func (w *Watcher) counts(name string) (counts, self bool) {
	if name == w.dir {
		return true, true
	}
	if filepath.Dir(name) != w.dir {
		return false, false
	}
	base := filepath.Base(name)
	return base == dataLink || !ignored(base), false
}

func (w *Watcher) loop(debounce time.Duration) {
	defer w.wg.Done()
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	// rewatch is set when the directory itself changed: the watch must follow the path to
	// whatever directory it names now before the change is signalled.
	rewatch := false
	// missingSince is when the directory was first found missing; zero while it is there.
	var missingSince time.Time
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
			timer.Reset(debounce)
		case _, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// Events may have been lost, the directory's own among them.
			rewatch = true
			timer.Reset(debounce)
		case <-timer.C:
			if rewatch {
				present, err := w.rewatch()
				switch {
				case err != nil:
					// Watched or not, the keys must be read again; rewatch stays set, so the
					// parent's next event for the directory tries the watch again.
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
					// closed). The parent's watch sees the directory come back.
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

// rewatch points the directory's watch at what the path names now. It
// reports whether the directory is there.
func (w *Watcher) rewatch() (present bool, err error) {
	// The old watch may already be gone (the directory was removed or moved): nothing to undo.
	_ = w.fsw.Remove(w.dir)
	if fi, err := os.Stat(w.dir); err != nil || !fi.IsDir() {
		return false, nil
	}
	if err := w.fsw.Add(w.dir); err != nil {
		return true, fmt.Errorf("watching the new keys directory %s: %w", w.dir, err)
	}
	return true, nil
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

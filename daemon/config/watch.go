package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the keys directory must be quiet before a
// change is signalled: an editor's save or `hypd secret new` is a burst of
// create, write, chmod and rename events that should cause one reload.
const DefaultDebounce = 250 * time.Millisecond

// Watcher signals changes to the key files of one directory.
type Watcher struct {
	fsw     *fsnotify.Watcher
	changed chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup

	// mu guards closed, so Close is safe to call twice and concurrently.
	mu     sync.Mutex
	closed bool
}

// Watch starts watching dir. After events stop for debounce (0 means
// DefaultDebounce), one value is sent on Changed; changes while the last
// signal is still unread merge into it. Events for ignored files (hidden,
// backups, WriteKeyFile's temporary file) do not count. If the watch
// itself reports an error, such as a queue overflow, a change is signalled
// too, since events may have been lost.
func Watch(dir string, debounce time.Duration) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching keys directory %s: %w", dir, err)
	}
	if err := fsw.Add(dir); err != nil {
		return nil, errors.Join(fmt.Errorf("watching keys directory %s: %w", dir, err), fsw.Close())
	}
	w := &Watcher{fsw: fsw, changed: make(chan struct{}, 1), done: make(chan struct{})}
	w.wg.Add(1)
	go w.loop(debounce)
	return w, nil
}

// Changed delivers one value per debounced burst of changes.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

func (w *Watcher) loop(debounce time.Duration) {
	defer w.wg.Done()
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if ignored(filepath.Base(ev.Name)) {
				continue
			}
			timer.Reset(debounce)
		case _, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			timer.Reset(debounce)
		case <-timer.C:
			select {
			case w.changed <- struct{}{}:
			default: // a signal is already pending; it covers this change
			}
		case <-w.done:
			return
		}
	}
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

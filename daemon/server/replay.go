package server

import (
	"sync"
	"time"
)

// replayLogEvery is how often one key and window may log "replay refused". A captured knock
// replayed in a loop is one event for the admin, not a line per datagram: the kernel reports a
// spent sequence's replay at most once a second, and this keeps the log to a line a minute, the
// rest counted in the next line ("unlogged") and in Stats.ReplaysRefused.
const replayLogEvery = time.Minute

// replayForget is when a key and window's unlogged replays are forgotten by the log (Stats still
// counts them): long after any window of any sane step has passed.
const replayForget = time.Hour

// replayLog decides which replays are logged. The zero value is ready.
type replayLog struct {
	mu     sync.Mutex // guards last, pruned
	last   map[replayKey]*replayEntry
	pruned time.Time
}

type replayKey struct {
	key    uint32
	window uint64
}

type replayEntry struct {
	at       time.Time // of the last line
	unlogged uint64    // replays since, not logged
}

// admit says whether a replay of (key, window) at now is logged and, if so, how many replays of
// it since the last line were not.
func (l *replayLog) admit(key uint32, window uint64, now time.Time) (unlogged uint64, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = make(map[replayKey]*replayEntry)
	}
	// Entries older than the interval limit nothing: drop them once an interval, unless they hold
	// unlogged replays for the next line; those go after replayForget, so the map holds only
	// keys and windows replayed lately.
	if now.Sub(l.pruned) >= replayLogEvery {
		for k, e := range l.last {
			if age := now.Sub(e.at); (age >= replayLogEvery && e.unlogged == 0) || age >= replayForget {
				delete(l.last, k)
			}
		}
		l.pruned = now
	}
	k := replayKey{key, window}
	e := l.last[k]
	if e == nil {
		l.last[k] = &replayEntry{at: now}
		return 0, true
	}
	if now.Sub(e.at) < replayLogEvery && now.Sub(e.at) >= 0 {
		e.unlogged++
		return 0, false
	}
	unlogged = e.unlogged
	e.at, e.unlogged = now, 0
	return unlogged, true
}

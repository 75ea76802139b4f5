// Package knockstate remembers which knock sequences this client has sent, so
// that every knock sends one the gateway has not spent.
//
// A gateway spends a sequence (key, window, counter) on its first use and
// grants nothing for it again. A client that knocks twice within one time
// step with the same sequence is therefore ignored the second time, and is
// locked out until the next step if the first grant has lapsed. So each knock
// reserves a use here first: the current window's next counter where the key
// allows several uses, else the next window within the gateway's default
// skew, else the previous one. The reservation is written before the knock
// is sent: a knock that then fails to go out wastes one use, which is cheap,
// while a resent sequence would be silently useless.
//
// The budget is per key and gateway address: a host name that resolves
// elsewhere (a typo, a second gateway with the same key) spends the knocks of
// that address, not the real gateway's. Beside the uses sent, the state keeps
// what the last knocks to that gateway came to (answered, or why not), so a
// spent budget is reported with its real cause rather than as the problem.
//
// The state is a small JSON file, named per key by the key's public
// fingerprint and step (never the key) and the gateway's address, guarded
// against a second hyp process by a lock file beside it and replaced
// atomically.
package knockstate

import (
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// DefaultSkew is the gateway's default clock skew in time steps (hypd's
// skew setting): the windows T-1, T and T+1 are accepted.
const DefaultSkew = 1

// keep is how many windows below the current one the state remembers. More
// than the skew, so a clock that steps back a little does not make the
// client forget what it sent.
const keep = sequence.MaxSkew + 1

// Use is one knock: a time window and a use counter within it.
type Use struct {
	Window  uint64
	Counter uint32
}

// Reserver hands out the next unspent use of a key at a gateway, and
// remembers what the knocks came to. *File is the real one; *Memory keeps
// the state in memory, for tests and short-lived callers.
//
// gateway names the address knocked (its text form); "" is one budget for
// the key wherever it knocks.
type Reserver interface {
	Reserve(k psk.Key, p sequence.Params, gateway string, uses int, now time.Time) (Use, error)
	// Record notes the outcome of a knock that was checked. It returns how
	// many checked knocks in a row got no answer (0 after an answer).
	Record(k psk.Key, p sequence.Params, gateway string, o Outcome, now time.Time) (unanswered int, err error)
	// Recent reports whether a use was sent to gateway in the windows the
	// state remembers (the last eleven steps), that is whether a grant of
	// ours may be open there.
	Recent(k psk.Key, p sequence.Params, gateway string, now time.Time) (bool, error)
}

// Outcome is what a checked knock came to: the service answered, or Cause
// says why not (the check's last error; it names no key).
type Outcome struct {
	Answered bool
	Cause    string
}

// ExhaustedError says every use the gateway accepts right now was sent
// already; Next is when the next window becomes acceptable. Unanswered is
// how many checked knocks in a row got no answer, and Cause the last one's
// error (both zero when the last checked knock answered, or none was
// checked).
type ExhaustedError struct {
	Next       time.Time
	Unanswered int
	Cause      string
}

func (e *ExhaustedError) Error() string {
	next := e.Next.Format("15:04:05")
	if e.Unanswered > 0 {
		return fmt.Sprintf("no answer after %d knocks (last error: %s); every knock the gateway accepts now was sent already, the next one is accepted from %s",
			e.Unanswered, e.Cause, next)
	}
	return fmt.Sprintf("every knock the gateway accepts now was sent already; the next one is accepted from %s", next)
}

// state is what the file holds: per key (fingerprint and step), the uses sent
// in recent windows.
type state struct {
	Version int              `json:"version"`
	Keys    map[string]entry `json:"keys"`
}

// entry is one key's record at one gateway: its step (so its windows can be
// aged on their own clock), the uses sent, and what the checked knocks came
// to.
type entry struct {
	Step       int64  `json:"step"`
	Sent       []use  `json:"sent"`
	Unanswered int    `json:"unanswered,omitempty"` // checked knocks in a row without an answer
	Cause      string `json:"cause,omitempty"`      // why the last of them did not open
}

type use struct {
	W uint64 `json:"w"`
	C uint32 `json:"c"`
}

const version = 1

func keyName(k psk.Key, p sequence.Params, gateway string) string {
	name := fmt.Sprintf("%s/%d", k.Fingerprint(), p.Step)
	if gateway != "" {
		name += "/" + gateway
	}
	if p.Scheme == sequence.V3 {
		// Each realm's sequences are their own: the members of an HA pair with a realm each
		// share one address, and a use knocked with one realm's sequence is not spent at the
		// other. Hex, so a realm holds no separator. v2 and hyp names stay as they were.
		name += "/v3:" + hex.EncodeToString([]byte(p.Realm))
	}
	return name
}

// reserve picks the next use for a key at a gateway, records it in s, and
// drops what has fallen out of every window that matters.
func (s *state) reserve(k psk.Key, p sequence.Params, gateway string, uses int, now time.Time) (Use, error) {
	if k.IsZero() {
		return Use{}, fmt.Errorf("no key to knock with")
	}
	if err := p.Validate(); err != nil {
		return Use{}, fmt.Errorf("knock parameters: %w", err)
	}
	if uses < 1 {
		uses = 1
	}
	if p.Scheme == sequence.Hyp {
		uses = 1 // the hyp scheme has no counter
	}
	uses = min(uses, sequence.MaxUses)
	if s.Keys == nil {
		s.Keys = map[string]entry{}
	}
	s.prune(now)
	t := p.Window(now.Unix())
	name := keyName(k, p, gateway)
	e := s.Keys[name]
	u, ok := next(e.Sent, t, uses, DefaultSkew)
	if !ok {
		return Use{}, &ExhaustedError{Next: time.Unix(int64(t+1)*p.Step, 0), Unanswered: e.Unanswered, Cause: e.Cause}
	}
	e.Step, e.Sent = p.Step, append(e.Sent, use{W: u.Window, C: u.Counter})
	s.Keys[name] = e
	return u, nil
}

// recent reports whether the key has uses at gateway that are still
// remembered.
func (s *state) recent(k psk.Key, p sequence.Params, gateway string, now time.Time) bool {
	s.prune(now)
	return len(s.Keys[keyName(k, p, gateway)].Sent) > 0
}

// record notes a checked knock's outcome on the key's entry at gateway. An
// entry without uses (pruned, or never reserved here) is not created: the
// outcome matters only while the budget it explains is live.
func (s *state) record(k psk.Key, p sequence.Params, gateway string, o Outcome, now time.Time) int {
	s.prune(now)
	name := keyName(k, p, gateway)
	e, ok := s.Keys[name]
	if !ok {
		return 0
	}
	if o.Answered {
		e.Unanswered, e.Cause = 0, ""
	} else {
		e.Unanswered++
		e.Cause = o.Cause
	}
	s.Keys[name] = e
	return e.Unanswered
}

// prune forgets uses more than keep windows before now, on each key's own
// step, and keys with nothing left.
func (s *state) prune(now time.Time) {
	for name, e := range s.Keys {
		t := sequence.Params{Step: e.Step}.Window(now.Unix())
		e.Sent = slices.DeleteFunc(e.Sent, func(u use) bool { return u.W+keep < t })
		if len(e.Sent) == 0 {
			delete(s.Keys, name)
		} else {
			s.Keys[name] = e
		}
	}
}

// next returns the first use not in sent, in the order the gateway is most
// likely to accept: window t, t+1 .. t+skew, then t-1 .. t-skew; within a
// window, counters 0 .. uses-1. The later windows come before the earlier
// ones because the next step also covers a local clock that runs a little
// slow, as the tray's retry always did. ok is false when every use is sent.
func next(sent []use, t uint64, uses, skew int) (u Use, ok bool) {
	windows := []uint64{t}
	for i := 1; i <= skew; i++ {
		windows = append(windows, t+uint64(i))
	}
	for i := 1; i <= skew && uint64(i) <= t; i++ {
		windows = append(windows, t-uint64(i))
	}
	for _, w := range windows {
		for c := 0; c < uses; c++ {
			if !slices.Contains(sent, use{W: w, C: uint32(c)}) {
				return Use{Window: w, Counter: uint32(c)}, true
			}
		}
	}
	return Use{}, false
}

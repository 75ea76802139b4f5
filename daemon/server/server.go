// Package server is hypd's knock path: it plans the kernel's table of valid knock sequences for the
// keys it is given (SetKeys, Refresh at each time step, both called by the gateway's one writer)
// and turns each completed sequence the detector reports into a one-time grant in the firewall.
//
// The path of a knock through it: Refresh writes every acceptable (key, window, counter) sequence
// into the detector at each time step; the detector follows sources through them in the kernel and
// reports a completed one; Handle checks that the sequence is still in its window and not spent,
// records it as spent on disk, asks the firewall to open the key's services for that source and
// then marks the sequence spent in the kernel, which keeps following it until its window passes so
// that a replay is reported and refused rather than lost in the noise. Nothing here runs per
// packet.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hideyourports/hyp/bpf"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/spent"
)

// Detector is what the server needs of the in-kernel knock detector.
type Detector interface {
	// SetSequences makes seqs the whole set (a pass over all of it).
	SetSequences(seqs []detector.Sequence) error
	// Update removes and adds sequences (the cost of the change alone).
	Update(remove []detector.Ref, add []detector.Sequence) error
	// Remove takes one sequence out of the kernel.
	Remove(keyID uint32, window uint64, counter uint32) error
	// MarkSpent keeps one sequence in the kernel, flagged spent: its completion is then reported
	// as a replay (Record.Replay).
	MarkSpent(keyID uint32, window uint64, counter uint32) error
	// Len is the number of sequences loaded.
	Len() int
	Read(ctx context.Context) (detector.Record, error)
}

// Firewall is what the server needs of the nftables owner. Key names the key that granted, so
// `hypd status` can show it.
type Firewall interface {
	Allow(addr netip.Addr, svcs []protected.Service, ttl time.Duration, key string) error
}

// Spent is the record of used sequences (spent.Store), as an interface so tests can make it fail.
type Spent interface {
	// Spend records u before it returns; false if u was spent already or lies below its floor.
	// On an error nothing is recorded and nothing may be granted.
	Spend(u spent.Use) (bool, error)
	// Spent reports whether u is used or below its floor.
	Spent(u spent.Use) bool
	// Advance records the current window of a step size (never lowering what was recorded) and
	// forgets uses that can no longer be accepted.
	Advance(step int64, current uint64, skew int) error
	// Bounds are the windows of a step size that may be accepted; ok is false before Advance.
	Bounds(step int64) (floor, ceiling uint64, ok bool)
}

// Options configure a Server. Detector, Firewall and Spent are required.
type Options struct {
	Skew     int // accepted windows either side of the current one
	Detector Detector
	Firewall Firewall
	Spent    Spent
	Logger   *slog.Logger
	// MaxSequences is the detector's capacity (Slots at start); 0: unknown, load everything. When
	// the keys need more, Refresh loads the most useful sequences first instead of failing.
	MaxSequences int
	Now          func() time.Time // nil: time.Now
}

// Stats counts what the server decided. Every completed sequence handled is exactly one of the
// decisions: HandledRecords = Grants + ReplaysRefused + StaleRefused + UnknownKey + GrantErrors.
type Stats struct {
	HandledRecords  uint64 `json:"handled_records"`
	Grants          uint64 `json:"grants"`
	ReplaysRefused  uint64 `json:"replays_refused"`
	StaleRefused    uint64 `json:"stale_refused"`
	UnknownKey      uint64 `json:"unknown_key"`
	GrantErrors     uint64 `json:"grant_errors"`
	SequencesLoaded int    `json:"sequences_loaded"`
	// SequencesLeftOut is how many acceptable sequences the last refresh could not load for want
	// of detector slots; TruncatedRefreshes counts refreshes that left any out.
	SequencesLeftOut   int    `json:"sequences_left_out"`
	TruncatedRefreshes uint64 `json:"truncated_refreshes"`
}

// KeyInfo is the public view of a loaded key: never its secret.
type KeyInfo struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	Scheme string `json:"scheme"`
	// Realm is a v3 key's realm; a v3 key may have the empty realm, so it is always there for v3.
	Realm    *string  `json:"realm,omitempty"`
	Services []string `json:"services"`
	Open     string   `json:"open"`
	Uses     int      `json:"uses"`
}

// Server is the running daemon logic. Create it with New.
type Server struct {
	opts Options
	log  *slog.Logger

	mu sync.Mutex // guards keys, list, keysGen, steps, ids, nextID, stats
	// keys is replaced whole by SetKeys and never modified after, so a snapshot is the map itself.
	keys map[uint32]*config.Key
	// list is keys in the order SetKeys was given them, with their fingerprints (computed once,
	// a hash each); replaced whole with keys. A time step walks it rather than the map: in this
	// order the keys lie one after the other in memory, and at 100,000 keys a walk in the map's
	// order spent most of its time waiting for memory, a cache miss per key.
	list    []listed
	keysGen uint64 // counts SetKeys calls
	// steps are the distinct step sizes of keys, so that a time step need not find them again.
	steps  []int64
	ids    map[keyIdent]uint32 // stable id per key, so reloads keep kernel progress valid
	nextID uint32
	stats  Stats

	replays replayLog // rate-limits the "replay refused" line; has its own lock

	// refreshMu serialises Refresh and guards loaded, synced, gen and the keys map Refresh last saw.
	refreshMu sync.Mutex
	// loaded is, per key id, the windows whose sequences Refresh gave the detector, so that a
	// time step computes and writes only the window it makes acceptable and removes the one it
	// expires. Spent sequences stay loaded, marked spent, until their window expires.
	loaded map[uint32]*loadedKey
	// aligned is loaded again, in list's order (aligned[i] is list[i]'s), valid while seenGen is
	// current: a time step then reaches each key's state in memory order, without a map lookup.
	aligned []*loadedKey
	// synced says loaded mirrors the detector. It is false before the first refresh, after a
	// write to the detector failed and while keys are left out for want of slots; Refresh then
	// rewrites the whole set.
	synced bool
	// seenGen is keysGen at the last Refresh that brought loaded up to date: while it is
	// current no key can have gone, and loaded need not be searched for keys to remove.
	seenGen uint64
	gen     sequence.Generator
}

// keyIdent names a key across reloads: its file name and its secret's fingerprint. The name is
// the key's own string, so an entry costs no allocation.
type keyIdent struct {
	name string
	fp   psk.Fingerprint
}

// listed is one key of Server.list.
type listed struct {
	id  uint32
	key *config.Key
	fp  psk.Fingerprint // the spent store's name for the key
}

// loadedKey is what Refresh loaded for one key: windows first..last (none if first > last), and
// the key it loaded them for, so that a reload that changes its settings replaces its sequences.
// The key is one of SetKeys' (never modified): while the pointer is the same, so are the settings,
// and a time step compares nothing else. Kept small: there is one per key.
type loadedKey struct {
	key         *config.Key
	first, last uint64
}

// sameSettings reports whether k would load the same sequences as prev.key did.
func (lk *loadedKey) sameSettings(k *config.Key) bool {
	return lk.key == k || (lk.key.Params == k.Params && lk.key.Uses == k.Uses)
}

// New returns a Server with no keys; call SetKeys before Serve.
func New(o Options) (*Server, error) {
	if o.Detector == nil || o.Firewall == nil || o.Spent == nil {
		return nil, errors.New("server: detector, firewall and spent store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Server{
		opts:   o,
		log:    o.Logger,
		keys:   make(map[uint32]*config.Key),
		ids:    make(map[keyIdent]uint32),
		nextID: 1,
		loaded: make(map[uint32]*loadedKey),
	}, nil
}

// SetKeys replaces the trusted keys and rewrites the kernel's sequences to match. It keeps
// pointers into keys rather than a copy (100,000 keys are 15 MB): the caller must not modify the
// slice afterwards.
//
// The caller (the gateway's one writer) protects the keys' services before it calls SetKeys: a
// key must never be able to knock before its services are hidden.
func (s *Server) SetKeys(keys []config.Key) error {
	next := make(map[uint32]*config.Key, len(keys))
	list := make([]listed, 0, len(keys))
	idents := make([]keyIdent, len(keys))
	for i := range keys {
		idents[i] = keyIdent{keys[i].Name, keys[i].Secret.Fingerprint()}
	}
	var steps []int64
	s.mu.Lock()
	old := s.keys
	ids := make(map[keyIdent]uint32, len(keys))
	for i := range keys {
		k, ident := &keys[i], idents[i]
		if _, dup := ids[ident]; dup {
			continue
		}
		id, ok := s.ids[ident]
		if !ok {
			id = s.nextID
			s.nextID++
		}
		ids[ident] = id
		next[id] = k
		list = append(list, listed{id, k, ident.fp})
		if !slices.Contains(steps, k.Params.Step) {
			steps = append(steps, k.Params.Step)
		}
	}
	s.ids = ids
	s.keys, s.list = next, list
	s.steps = steps
	s.keysGen++
	s.mu.Unlock()

	for id, k := range s.keysSnapshot() {
		if prev, had := old[id]; had {
			// The same key with other settings: what it opens, for how long, is an audit fact.
			if !slices.Equal(prev.Services, k.Services) || prev.Open != k.Open || prev.Uses != k.Uses || prev.Params != k.Params {
				s.log.Info("key changed", "key", k.Name, "id", k.Secret.ID(),
					"services", protected.JoinServices(k.Services), "was_services", protected.JoinServices(prev.Services),
					"open", k.Open.String(), "was_open", prev.Open.String(), "uses", k.Uses, "was_uses", prev.Uses,
					"scheme", string(k.Params.Scheme), "was_scheme", string(prev.Params.Scheme),
					"realm", k.Params.Realm, "was_realm", prev.Params.Realm)
				if k.RealmWarning != "" {
					s.log.Warn("key realm differs from the gateway's", "key", k.Name, "detail", k.RealmWarning)
				}
			}
			continue
		}
		s.log.Info("key loaded", "key", k.Name, "id", k.Secret.ID(), "scheme", string(k.Params.Scheme),
			"realm", k.Params.Realm, "services", protected.JoinServices(k.Services), "open", k.Open.String())
		if k.RealmWarning != "" {
			s.log.Warn("key realm differs from the gateway's", "key", k.Name, "detail", k.RealmWarning)
		}
		if k.Params.Scheme == sequence.Hyp {
			s.log.Warn("key uses the 32-bit reference hyp scheme; move it to v3 (or v2) when its clients can",
				"key", k.Name, "path", k.Path)
		}
	}
	now := s.keysSnapshot()
	for id, k := range old {
		if _, still := now[id]; !still {
			s.log.Info("key removed", "key", k.Name, "id", k.Secret.ID())
		}
	}
	return s.Refresh()
}

// keysSnapshot returns the current keys; the map must not be modified.
func (s *Server) keysSnapshot() map[uint32]*config.Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys
}

// Refresh makes the kernel's valid set every sequence acceptable now (windows T-skew..T+skew,
// counters 0..uses-1) minus the spent ones and those outside the spent store's bounds. It first
// records the current window of every step size in use, so that the store forgets old uses only
// below a floor that never goes down (a clock stepping back or a key missing from one reload
// brings nothing back).
//
// At a time step it computes and writes only what changed: each key's newly acceptable window
// and the removal of its expired one, so a step costs one window's HMACs per key and no pass
// over the loaded set. A reload likewise touches only keys that came, went or changed.
//
// When the detector has fewer slots than the keys need (keys added since the start), it loads the
// current window first, then the neighbours by distance, then the extra counters, and says how
// many it left out: it never fails wholesale, which would lock every key out.
func (s *Server) Refresh() error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	now := s.opts.Now().Unix()
	s.mu.Lock()
	keys, list, keysGen, steps := s.keys, s.list, s.keysGen, s.steps
	s.mu.Unlock()
	wins := s.advance(steps, now)

	need := 0
	for _, e := range list {
		first, last := wins.of(e.key.Params.Step)
		if first <= last {
			need += int(last-first+1) * max(e.key.Uses, 1)
		}
	}
	if !s.synced || (s.opts.MaxSequences > 0 && need > s.opts.MaxSequences) {
		return s.rebuild(keys, list, keysGen, now, need, wins)
	}

	remove := make([]detector.Ref, 0, len(keys))
	add := make([]detector.Sequence, 0, len(keys))
	var scratch []sequence.Candidate
	if s.seenGen != keysGen {
		for id, prev := range s.loaded {
			if _, ok := keys[id]; !ok {
				remove = appendRefs(remove, id, prev, 1, 0)
				delete(s.loaded, id)
			}
		}
	}
	aligned := s.aligned
	if s.seenGen != keysGen || len(aligned) != len(list) {
		aligned = make([]*loadedKey, len(list))
		for i, e := range list {
			aligned[i] = s.loaded[e.id]
		}
	}
	for i, e := range list {
		id, k := e.id, e.key
		first, last := wins.of(k.Params.Step)
		prev := aligned[i]
		if prev == nil || !prev.sameSettings(k) {
			if prev != nil {
				remove = appendRefs(remove, id, prev, 1, 0)
			}
			prev = &loadedKey{first: 1, last: 0}
			s.loaded[id] = prev
			aligned[i] = prev
		}
		prev.key = k
		remove = appendRefs(remove, id, prev, first, last)
		if prev.first > prev.last {
			add, scratch = s.appendSequences(add, scratch, id, k, e.fp, first, last)
		} else {
			if prev.first > 0 {
				add, scratch = s.appendSequences(add, scratch, id, k, e.fp, first, min(last, prev.first-1))
			}
			add, scratch = s.appendSequences(add, scratch, id, k, e.fp, max(first, prev.last+1), last)
		}
		prev.first, prev.last = first, last
	}
	s.seenGen, s.aligned = keysGen, aligned
	if err := s.opts.Detector.Update(remove, add); err != nil {
		s.synced = false
		return fmt.Errorf("writing %d sequences to the detector and removing %d: %w", len(add), len(remove), err)
	}
	s.setLoaded(0)
	return nil
}

// stepWindows is, for one step size, the windows to load now: first..last, none if first > last.
type stepWindows struct {
	step        int64
	first, last uint64
}

// windows are the stepWindows of every step size in use: one or a few, so a linear search.
type windows []stepWindows

// of returns the windows to load for a key of step size step; none for a step not in ws.
func (ws windows) of(step int64) (first, last uint64) {
	for _, w := range ws {
		if w.step == step {
			return w.first, w.last
		}
	}
	return 1, 0
}

// advance records the current window of every step size in use in the spent store, and returns
// for each the windows to load now (acceptable), computed once per step size rather than once
// per key.
func (s *Server) advance(steps []int64, now int64) windows {
	skew := s.opts.Skew
	wins := make(windows, 0, len(steps))
	for _, step := range steps {
		if step <= 0 {
			continue // Params.Validate refuses it; nothing of such a key can be loaded
		}
		cur := uint64(0)
		if now > 0 {
			cur = uint64(now / step)
		}
		if err := s.opts.Spent.Advance(step, cur, skew); err != nil {
			// The store refuses what it cannot vouch for; sequences above the last recorded
			// window stay unloaded until the write works again.
			s.log.Error("recording the current time window", "step", step, "err", err)
		}
		floor, ceiling, ok := s.opts.Spent.Bounds(step)
		if ok && cur+uint64(skew) < floor {
			s.log.Warn("the clock is behind time windows already used; knocks are refused until it catches up",
				"step", step, "window", cur, "first_accepted", floor)
		}
		first, last := acceptable(cur, uint64(skew), floor, ceiling, ok)
		wins = append(wins, stepWindows{step, first, last})
	}
	return wins
}

// acceptable is the range of windows to load when cur is the current one: cur-skew..cur+skew
// (none below 0), within the spent store's bounds floor..ceiling. It is empty (first > last)
// when the store has no bounds (ok false).
func acceptable(cur, skew, floor, ceiling uint64, ok bool) (first, last uint64) {
	if !ok {
		return 1, 0
	}
	first, last = floor, min(cur+skew, ceiling)
	if cur > skew {
		first = max(floor, cur-skew)
	}
	return first, last
}

// appendRefs names every sequence of key id in prev's windows outside first..last.
func appendRefs(refs []detector.Ref, id uint32, prev *loadedKey, first, last uint64) []detector.Ref {
	for w := prev.first; w <= prev.last && prev.first <= prev.last; w++ {
		if w >= first && w <= last {
			continue
		}
		for c := range max(prev.key.Uses, 1) {
			refs = append(refs, detector.Ref{KeyID: id, Window: w, Counter: uint32(c)})
		}
	}
	return refs
}

// appendSequences computes the sequences of key id for windows first..last and appends those
// not sweepable, the spent ones marked Spent. scratch is reused between calls.
func (s *Server) appendSequences(seqs []detector.Sequence, scratch []sequence.Candidate, id uint32, k *config.Key, fp psk.Fingerprint,
	first, last uint64) ([]detector.Sequence, []sequence.Candidate) {
	if first > last {
		return seqs, scratch
	}
	cands, err := s.gen.Append(scratch[:0], k.Secret, k.Params, first, last, k.Uses)
	if err != nil {
		s.log.Error("computing sequences", "key", k.Name, "err", err)
		return seqs, cands
	}
	for _, c := range cands {
		if sweepable(c.Ports) {
			// About one sequence in 2^47; its client's retry at the next step gets another. Not
			// logged: which sequence a key makes is the secret (docs/protocol.md, security).
			continue
		}
		// A spent sequence is loaded as spent, so that a replay of it, also after a restart, is
		// reported and refused, not lost among the noise.
		used := s.opts.Spent.Spent(spent.Use{Key: fp, Step: k.Params.Step, Window: c.Window, Counter: c.Counter})
		seqs = append(seqs, detector.Sequence{KeyID: id, Window: c.Window, Counter: c.Counter, Ports: c.Ports, Tags: c.Tags, Spent: used})
	}
	return seqs, cands
}

// rebuild computes every acceptable sequence of every key and makes it the detector's whole set:
// at the start, after a failed write, and while the keys need more slots than there are.
func (s *Server) rebuild(keys map[uint32]*config.Key, list []listed, keysGen uint64, now int64, need int, wins windows) error {
	loaded := make(map[uint32]*loadedKey, len(list))
	aligned := make([]*loadedKey, len(list))
	states := make([]loadedKey, len(list)) // one allocation, in list's order
	seqs := make([]detector.Sequence, 0, need)
	var scratch []sequence.Candidate
	for i, e := range list {
		first, last := wins.of(e.key.Params.Step)
		states[i] = loadedKey{key: e.key, first: first, last: last}
		loaded[e.id], aligned[i] = &states[i], &states[i]
		seqs, scratch = s.appendSequences(seqs, scratch, e.id, e.key, e.fp, first, last)
	}
	leftOut := 0
	if limit := s.opts.MaxSequences; limit > 0 && len(seqs) > limit {
		leftOut = len(seqs) - limit
		seqs = mostUseful(seqs, keys, now, limit)
		s.log.Error("the detector's table is too small for the loaded keys: sequences left out; restarting hypd resizes the table",
			"left_out", leftOut, "loaded", len(seqs), "slots", limit)
	}
	s.synced = false
	if err := s.opts.Detector.SetSequences(seqs); err != nil {
		return fmt.Errorf("writing %d sequences to the detector: %w", len(seqs), err)
	}
	if leftOut == 0 {
		s.loaded, s.aligned, s.synced, s.seenGen = loaded, aligned, true, keysGen
	}
	s.setLoaded(leftOut)
	return nil
}

func (s *Server) setLoaded(leftOut int) {
	n := s.opts.Detector.Len()
	s.mu.Lock()
	s.stats.SequencesLoaded = n
	s.stats.SequencesLeftOut = leftOut
	if leftOut > 0 {
		s.stats.TruncatedRefreshes++
	}
	s.mu.Unlock()
}

// mostUseful keeps n of seqs: every sequence that can still open before any spent one (which
// only lets a replay be reported), then every key's current window before any neighbour, nearer
// windows before farther ones, counter 0 of every window before any extra counter. A client with
// a good clock knocks the current window with counter 0, so that is the last thing to go.
func mostUseful(seqs []detector.Sequence, keys map[uint32]*config.Key, now int64, n int) []detector.Sequence {
	rank := func(q detector.Sequence) (extra bool, dist uint64) {
		cur := keys[q.KeyID].Params.Window(now)
		if q.Window >= cur {
			dist = 2 * (q.Window - cur) // ahead after behind at the same distance
		} else {
			dist = 2*(cur-q.Window) - 1
		}
		return q.Counter > 0, dist
	}
	slices.SortStableFunc(seqs, func(a, b detector.Sequence) int {
		if a.Spent != b.Spent {
			if a.Spent {
				return 1
			}
			return -1
		}
		ea, da := rank(a)
		eb, db := rank(b)
		if ea != eb {
			if ea {
				return 1
			}
			return -1
		}
		if da != db {
			return cmp.Compare(da, db)
		}
		if a.Counter != b.Counter {
			return cmp.Compare(a.Counter, b.Counter)
		}
		return cmp.Compare(a.KeyID, b.KeyID)
	})
	return seqs[:n]
}

// Slots is the detector capacity that keys need at skew: every window (2·skew+1) and counter of
// every key, plus one step's turnover (the next window of every key is added before the oldest is
// gone), and a quarter more so that keys added by a reload fit without a restart. Never below
// bpf.DefaultMaxSequences. A set of keys that does not fit even in bpf.MaxSlots is an error naming
// the numbers: better to refuse the start than to lock keys out at random.
func Slots(keys []config.Key, skew int) (int, error) {
	if skew < 0 || skew > sequence.MaxSkew {
		return 0, fmt.Errorf("sizing the detector: skew %d out of range 0 to %d", skew, sequence.MaxSkew)
	}
	if err := checkHypLimit(keys, skew); err != nil {
		return 0, err
	}
	need := 0
	for _, k := range keys {
		need += (2*skew + 2) * max(k.Uses, 1)
	}
	if need > bpf.MaxSlots {
		return 0, fmt.Errorf("%d keys need %d sequence slots at skew %d (keys × (2·skew+2) windows × uses), more than the detector's maximum of %d: lower skew or uses, or spread the keys over more gateways",
			len(keys), need, skew, bpf.MaxSlots)
	}
	return min(max(need+need/4, bpf.DefaultMaxSequences), bpf.MaxSlots), nil
}

// sweepable reports whether an ascending or descending sweep of every port would send ports in
// exactly this order, consecutively: p, p+1, p+2, ... or p, p-1, p-2, ... Such a sequence would
// let a plain port scan open the gateway, so it is never loaded (docs/protocol.md section 5).
func sweepable(ports []uint16) bool {
	if len(ports) < 2 {
		return false
	}
	d := int(ports[1]) - int(ports[0])
	if d != 1 && d != -1 {
		return false
	}
	for i := 2; i < len(ports); i++ {
		if int(ports[i])-int(ports[i-1]) != d {
			return false
		}
	}
	return true
}

// Handle acts on one completed sequence reported by the detector. Every call ends in exactly
// one decision, counted in Stats: "access granted", "replay refused", "knock outside its time
// window refused", "knock for an unknown key refused" or "grant failed", each logged in one line
// naming the key, source, window and counter ("replay refused" at most once a minute per key and
// window: see replayLog). The error it returns is only about the kernel's copy of the sequence,
// which is not a decision.
//
// A use is recorded as spent before the firewall is asked: if Allow then fails, the use stays
// spent (fail closed) and the client, seeing no service, knocks again with its next counter or at
// the next step. A failed grant costs it one knock, never a replay. A spent sequence stays in the
// kernel, flagged spent, until its window passes: completing it again is a replay, reported by
// the kernel (Record.Replay) and refused here without a look at the firewall.
func (s *Server) Handle(rec detector.Record) error {
	start := time.Now()
	src := rec.Source.Unmap()
	s.mu.Lock()
	s.stats.HandledRecords++
	k, ok := s.keys[rec.KeyID]
	if !ok {
		s.stats.UnknownKey++
	}
	s.mu.Unlock()
	if !ok {
		s.log.Warn("knock for an unknown key refused", "key_index", rec.KeyID, "source", src, "window", rec.Window, "counter", rec.Counter)
		return nil
	}
	if rec.Replay {
		s.refuseReplay(k, rec.KeyID, src, rec)
		return nil
	}

	// The kernel only holds sequences of the current windows, but a record may have waited in the
	// ring buffer across a step boundary: check the window again against our own clock, and
	// against the spent store's floor, which a clock that stepped back cannot lower.
	now := s.opts.Now()
	cur := k.Params.Window(now.Unix())
	skew := uint64(s.opts.Skew)
	floor, ceiling, known := s.opts.Spent.Bounds(k.Params.Step)
	if rec.Window+skew < cur || rec.Window > cur+skew || !known || rec.Window < floor || rec.Window > ceiling {
		s.count(func(st *Stats) { st.StaleRefused++ })
		s.log.Warn("knock outside its time window refused", "key", k.Name, "source", src, "window", rec.Window,
			"counter", rec.Counter, "current", cur, "first_accepted", floor)
		return s.remove(rec)
	}

	use := spent.Use{Key: k.Secret.Fingerprint(), Step: k.Params.Step, Window: rec.Window, Counter: rec.Counter}
	fresh, err := s.opts.Spent.Spend(use)
	if err != nil {
		// Fail closed: a use we could not record could be replayed after a restart. Nor can it be
		// held as spent: the store would not load it so after a restart.
		s.count(func(st *Stats) { st.GrantErrors++ })
		s.log.Error("grant failed", "key", k.Name, "source", src, "window", rec.Window, "counter", rec.Counter,
			"err", fmt.Errorf("recording the use: %w", err))
		return s.remove(rec)
	}
	if !fresh {
		// Spent, but the kernel did not know yet: a copy that completed just after the one that
		// was granted, or a mark that failed. Mark it now.
		s.refuseReplay(k, rec.KeyID, src, rec)
		return s.markSpent(rec)
	}
	// The use is spent, so a replay is refused whatever the kernel still holds: the firewall
	// goes first, the kernel's copy of the sequence after, off the path to the open port.
	spentAt := time.Now()
	allowErr := s.opts.Firewall.Allow(src, k.Services, k.Open, k.Name)
	allowedAt := time.Now()
	markErr := s.markSpent(rec)
	markedAt := time.Now()
	if allowErr != nil {
		s.count(func(st *Stats) { st.GrantErrors++ })
		s.log.Error("grant failed", "key", k.Name, "source", src, "window", rec.Window, "counter", rec.Counter,
			"services", protected.JoinServices(k.Services), "err", fmt.Errorf("opening the services: %w", allowErr))
		return markErr
	}
	s.count(func(st *Stats) { st.Grants++ })
	s.log.Info("access granted", "key", k.Name, "source", src, "window", rec.Window, "counter", rec.Counter,
		"services", protected.JoinServices(k.Services), "expires", now.Add(k.Open).UTC().Format(time.RFC3339))
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		// Where a grant's time goes, for docs/bench.md: from the record in hand to the use on
		// disk, to the element in nftables, to the sequence marked spent in the kernel.
		s.log.Debug("grant timing", "source", src, "spend_us", micros(spentAt.Sub(start)),
			"allow_us", micros(allowedAt.Sub(spentAt)), "mark_us", micros(markedAt.Sub(allowedAt)))
	}
	return markErr
}

// refuseReplay counts a replay and logs it, at most once a minute per key and window.
func (s *Server) refuseReplay(k *config.Key, keyID uint32, src netip.Addr, rec detector.Record) {
	s.count(func(st *Stats) { st.ReplaysRefused++ })
	unlogged, log := s.replays.admit(keyID, rec.Window, s.opts.Now())
	if !log {
		return
	}
	args := []any{"key", k.Name, "source", src, "window", rec.Window, "counter", rec.Counter}
	if unlogged > 0 {
		args = append(args, "unlogged", unlogged)
	}
	s.log.Warn("replay refused", args...)
}

func micros(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Nanoseconds())/1000) }

func (s *Server) remove(rec detector.Record) error {
	if err := s.opts.Detector.Remove(rec.KeyID, rec.Window, rec.Counter); err != nil {
		return fmt.Errorf("removing sequence from the detector: %w", err)
	}
	return nil
}

func (s *Server) markSpent(rec detector.Record) error {
	if err := s.opts.Detector.MarkSpent(rec.KeyID, rec.Window, rec.Counter); err != nil {
		return fmt.Errorf("marking sequence spent in the detector: %w", err)
	}
	return nil
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Keys lists the loaded keys, sorted by name, without their secrets.
func (s *Server) Keys() []KeyInfo {
	keys := s.keysSnapshot()
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		svcs := make([]string, len(k.Services))
		for i, sv := range k.Services {
			svcs[i] = sv.String()
		}
		info := KeyInfo{Name: k.Name, ID: k.Secret.ID(), Scheme: string(k.Params.Scheme), Services: svcs, Open: k.Open.String(), Uses: k.Uses}
		if k.Params.Scheme == sequence.V3 {
			realm := k.Params.Realm
			info.Realm = &realm
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NextBoundary is the next instant at which any key's time window changes: when the gateway
// calls Refresh next.
func (s *Server) NextBoundary(now time.Time) time.Time {
	unix := now.Unix()
	next := now.Add(time.Minute)
	for _, k := range s.keysSnapshot() {
		step := k.Params.Step
		if step <= 0 {
			continue
		}
		b := time.Unix((unix/step+1)*step, 0)
		if b.Before(next) {
			next = b
		}
	}
	return next
}

// Serve handles the detector's completed sequences until ctx ends: the grant path, beside the
// gateway's one writer, which calls SetKeys and Refresh.
func (s *Server) Serve(ctx context.Context) error {
	for {
		rec, err := s.opts.Detector.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading detector records: %w", err)
		}
		if err := s.Handle(rec); err != nil {
			s.log.Error("handling completed knock", "err", err)
		}
	}
}

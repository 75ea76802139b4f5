// Package server is hypd's glue: it keeps the kernel's table of valid knock sequences current,
// turns each completed sequence the detector reports into a one-time grant in the firewall, and
// reloads keys when the keys directory changes.
//
// The path of a knock through it: Refresh writes every acceptable (key, window, counter) sequence
// into the detector at each time step; the detector follows sources through them in the kernel and
// reports a completed one; Handle checks that the sequence is still in its window and not spent,
// records it as spent on disk, deletes it from the kernel and asks the firewall to open the key's
// services for that source. Nothing here runs per packet.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/spent"
)

// Detector is what the server needs of the in-kernel knock detector.
type Detector interface {
	SetSequences(seqs []detector.Sequence) error
	Remove(keyID uint32, window uint64, counter uint32) error
	Read(ctx context.Context) (detector.Record, error)
}

// Firewall is what the server needs of the nftables owner.
type Firewall interface {
	Allow(addr netip.Addr, svcs []firewall.Service, ttl time.Duration) error
}

// Options configure a Server. Detector, Firewall and Spent are required.
type Options struct {
	Skew     int // accepted windows either side of the current one
	Detector Detector
	Firewall Firewall
	Spent    *spent.Store
	Logger   *slog.Logger
	Now      func() time.Time // nil: time.Now
	// LoadKeys reads the trusted keys; Reload calls it. It reports per-file problems separately so
	// that one bad file does not lock every other agent out.
	LoadKeys func() ([]config.Key, []error)
	// OnKeys, if set, sees every new key set before its sequences reach the kernel, so the
	// firewall can protect services that a key file adds.
	OnKeys func(keys []config.Key) error
}

// Stats counts what the server decided.
type Stats struct {
	Grants          uint64 `json:"grants"`
	ReplaysRefused  uint64 `json:"replays_refused"`
	StaleRefused    uint64 `json:"stale_refused"`
	UnknownKey      uint64 `json:"unknown_key"`
	GrantErrors     uint64 `json:"grant_errors"`
	SequencesLoaded int    `json:"sequences_loaded"`
}

// KeyInfo is the public view of a loaded key: never its secret.
type KeyInfo struct {
	Name     string   `json:"name"`
	ID       string   `json:"id"`
	Scheme   string   `json:"scheme"`
	Services []string `json:"services"`
	Open     string   `json:"open"`
	Uses     int      `json:"uses"`
}

// Server is the running daemon logic. Create it with New.
type Server struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex // guards keys, ids, nextID, stats
	keys   map[uint32]config.Key
	ids    map[string]uint32 // "name/fingerprint" -> stable id, so reloads keep kernel progress valid
	nextID uint32
	stats  Stats
}

// New returns a Server with no keys; call Reload or SetKeys before Run.
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
		keys:   make(map[uint32]config.Key),
		ids:    make(map[string]uint32),
		nextID: 1,
	}, nil
}

// Reload reads the keys again and installs them. Problems with single files are logged; the keys
// that did load take effect, and a removed key stops opening anything at once.
func (s *Server) Reload() error {
	if s.opts.LoadKeys == nil {
		return errors.New("reloading keys: no key loader configured")
	}
	keys, problems := s.opts.LoadKeys()
	for _, p := range problems {
		s.log.Error("key not loaded", "err", p)
	}
	return s.SetKeys(keys)
}

// SetKeys replaces the trusted keys and rewrites the kernel's sequences to match.
func (s *Server) SetKeys(keys []config.Key) error {
	if s.opts.OnKeys != nil {
		if err := s.opts.OnKeys(keys); err != nil {
			return fmt.Errorf("applying the new keys' services: %w", err)
		}
	}
	s.mu.Lock()
	old := s.keys
	s.keys = make(map[uint32]config.Key, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		ident := k.Name + "/" + k.Secret.ID()
		if seen[ident] {
			continue
		}
		seen[ident] = true
		id, ok := s.ids[ident]
		if !ok {
			id = s.nextID
			s.nextID++
			s.ids[ident] = id
		}
		s.keys[id] = k
	}
	for ident := range s.ids {
		if !seen[ident] {
			delete(s.ids, ident)
		}
	}
	s.mu.Unlock()

	for id, k := range s.keysSnapshot() {
		if _, had := old[id]; had {
			continue
		}
		s.log.Info("key loaded", "key", k.Name, "id", k.Secret.ID(), "scheme", string(k.Params.Scheme),
			"services", servicesString(k.Services), "open", k.Open.String())
		if k.Params.Scheme == sequence.Hyp {
			s.log.Warn("key uses the 32-bit reference hyp scheme; move it to v2 when its clients can",
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

func (s *Server) keysSnapshot() map[uint32]config.Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[uint32]config.Key, len(s.keys))
	for id, k := range s.keys {
		m[id] = k
	}
	return m
}

// Refresh computes every sequence acceptable now (windows T-skew..T+skew, counters 0..uses-1)
// minus the spent ones, and makes that the kernel's valid set.
func (s *Server) Refresh() error {
	now := s.opts.Now().Unix()
	keys := s.keysSnapshot()
	var seqs []detector.Sequence
	for id, k := range keys {
		cands, err := sequence.Candidates(k.Secret, k.Params, now, s.opts.Skew, k.Uses)
		if err != nil {
			s.log.Error("computing sequences", "key", k.Name, "err", err)
			continue
		}
		for _, c := range cands {
			if s.opts.Spent.Spent(spent.Use{KeyID: k.Secret.ID(), Window: c.Window, Counter: c.Counter}) {
				continue
			}
			if sweepable(c.Ports) {
				// About one sequence in 2^47; its client's retry at the next step gets another.
				s.log.Debug("sequence a port sweep would complete: not loaded", "key", k.Name, "window", c.Window)
				continue
			}
			seqs = append(seqs, detector.Sequence{KeyID: id, Window: c.Window, Counter: c.Counter, Ports: c.Ports})
		}
	}
	if err := s.opts.Detector.SetSequences(seqs); err != nil {
		return fmt.Errorf("writing %d sequences to the detector: %w", len(seqs), err)
	}
	s.mu.Lock()
	s.stats.SequencesLoaded = len(seqs)
	s.mu.Unlock()

	// Forget spent uses that can no longer be accepted, so the state file stays small.
	byFingerprint := make(map[string]config.Key, len(keys))
	for _, k := range keys {
		byFingerprint[k.Secret.ID()] = k
	}
	err := s.opts.Spent.Prune(func(fp string) (uint64, bool) {
		k, ok := byFingerprint[fp]
		if !ok {
			return 0, false
		}
		w := k.Params.Window(now)
		if w < uint64(s.opts.Skew) {
			return 0, true
		}
		return w - uint64(s.opts.Skew), true
	})
	if err != nil {
		s.log.Error("pruning spent sequences", "err", err)
	}
	return nil
}

// sweepable reports whether an ascending or descending sweep of every port would send ports in
// exactly this order, consecutively: p, p+1, p+2, ... or p, p-1, p-2, ... Such a sequence would
// let a plain port scan open the gateway, so it is never loaded (PROTOCOL.md section 5).
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

// Handle acts on one completed sequence reported by the detector.
func (s *Server) Handle(rec detector.Record) error {
	s.mu.Lock()
	k, ok := s.keys[rec.KeyID]
	if !ok {
		s.stats.UnknownKey++
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	src := rec.Source.Unmap()

	// The kernel only holds sequences of the current windows, but a record may have waited in the
	// ring buffer across a step boundary: check the window again against our own clock.
	now := s.opts.Now()
	cur := k.Params.Window(now.Unix())
	skew := uint64(s.opts.Skew)
	if rec.Window+skew < cur || rec.Window > cur+skew {
		s.count(func(st *Stats) { st.StaleRefused++ })
		s.log.Warn("knock outside its time window refused", "key", k.Name, "source", src, "window", rec.Window, "current", cur)
		return s.remove(rec)
	}

	use := spent.Use{KeyID: k.Secret.ID(), Window: rec.Window, Counter: rec.Counter}
	fresh, err := s.opts.Spent.Spend(use)
	if err != nil {
		// Fail closed: a use we could not persist could be replayed after a restart.
		s.count(func(st *Stats) { st.GrantErrors++ })
		return errors.Join(fmt.Errorf("recording spent sequence of key %s: %w", k.Name, err), s.remove(rec))
	}
	if !fresh {
		s.count(func(st *Stats) { st.ReplaysRefused++ })
		s.log.Warn("replayed knock refused", "key", k.Name, "source", src, "window", rec.Window, "counter", rec.Counter)
		return s.remove(rec)
	}
	rmErr := s.remove(rec)
	if err := s.opts.Firewall.Allow(src, k.Services, k.Open); err != nil {
		s.count(func(st *Stats) { st.GrantErrors++ })
		return errors.Join(fmt.Errorf("granting %s to %s for key %s: %w", servicesString(k.Services), src, k.Name, err), rmErr)
	}
	s.count(func(st *Stats) { st.Grants++ })
	s.log.Info("access granted", "key", k.Name, "source", src, "services", servicesString(k.Services),
		"expires", now.Add(k.Open).UTC().Format(time.RFC3339), "window", rec.Window, "counter", rec.Counter)
	return rmErr
}

func (s *Server) remove(rec detector.Record) error {
	if err := s.opts.Detector.Remove(rec.KeyID, rec.Window, rec.Counter); err != nil {
		return fmt.Errorf("removing spent sequence from the detector: %w", err)
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
		out = append(out, KeyInfo{Name: k.Name, ID: k.Secret.ID(), Scheme: string(k.Params.Scheme), Services: svcs, Open: k.Open.String(), Uses: k.Uses})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// nextBoundary is the next instant at which any key's time window changes.
func (s *Server) nextBoundary(now time.Time) time.Time {
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

// Run refreshes the kernel's sequences at every window boundary and handles the detector's
// records until ctx ends. Changed is an optional signal (SIGHUP, the keys-directory watcher) to
// reload the keys.
func (s *Server) Run(ctx context.Context, changed <-chan struct{}) error {
	if err := s.Refresh(); err != nil {
		return err
	}
	readErr := make(chan error, 1)
	go func() {
		for {
			rec, err := s.opts.Detector.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			if err := s.Handle(rec); err != nil {
				s.log.Error("handling completed knock", "err", err)
			}
		}
	}()

	timer := time.NewTimer(time.Until(s.nextBoundary(s.opts.Now())))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			<-readErr
			return nil
		case err := <-readErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading detector records: %w", err)
		case <-changed:
			if err := s.Reload(); err != nil {
				s.log.Error("reloading keys", "err", err)
			}
		case <-timer.C:
			if err := s.Refresh(); err != nil {
				s.log.Error("refreshing sequences", "err", err)
			}
			// A few milliseconds past the boundary, so Now() is surely in the new window.
			timer.Reset(time.Until(s.nextBoundary(s.opts.Now())) + 5*time.Millisecond)
		}
	}
}

func servicesString(svcs []firewall.Service) string {
	s := ""
	for i, sv := range svcs {
		if i > 0 {
			s += ","
		}
		s += sv.String()
	}
	return s
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/bpf"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/spent"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

type fakeDetector struct {
	mu      sync.Mutex // guards seqs, removed
	seqs    []detector.Sequence
	removed []detector.Sequence
	records chan detector.Record
}

func (d *fakeDetector) SetSequences(s []detector.Sequence) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seqs = append([]detector.Sequence(nil), s...)
	return nil
}

func (d *fakeDetector) Update(remove []detector.Ref, add []detector.Sequence) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	gone := make(map[detector.Ref]bool, len(remove)+len(add))
	for _, r := range remove {
		gone[r] = true
	}
	for _, q := range add {
		gone[detector.Ref{KeyID: q.KeyID, Window: q.Window, Counter: q.Counter}] = true
	}
	d.seqs = slices.DeleteFunc(d.seqs, func(q detector.Sequence) bool {
		return gone[detector.Ref{KeyID: q.KeyID, Window: q.Window, Counter: q.Counter}]
	})
	d.seqs = append(d.seqs, add...)
	return nil
}

func (d *fakeDetector) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seqs)
}

func (d *fakeDetector) Remove(keyID uint32, window uint64, counter uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removed = append(d.removed, detector.Sequence{KeyID: keyID, Window: window, Counter: counter})
	d.seqs = slices.DeleteFunc(d.seqs, func(q detector.Sequence) bool {
		return q.KeyID == keyID && q.Window == window && q.Counter == counter
	})
	return nil
}

func (d *fakeDetector) Read(ctx context.Context) (detector.Record, error) {
	select {
	case r := <-d.records:
		return r, nil
	case <-ctx.Done():
		return detector.Record{}, ctx.Err()
	}
}

func (d *fakeDetector) loaded() []detector.Sequence {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]detector.Sequence(nil), d.seqs...)
}

type grant struct {
	addr netip.Addr
	svcs []protected.Service
	ttl  time.Duration
	key  string
}

type fakeFirewall struct {
	mu     sync.Mutex // guards grants, fail
	grants []grant
	fail   error // Allow fails with this when set
}

func (f *fakeFirewall) Allow(addr netip.Addr, svcs []protected.Service, ttl time.Duration, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.grants = append(f.grants, grant{addr, svcs, ttl, key})
	return nil
}

func (f *fakeFirewall) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeFirewall) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.grants)
}

type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func newTestServer(t *testing.T, statePath string) (*Server, *fakeDetector, *fakeFirewall, *clock, config.Key) {
	t.Helper()
	key, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k := config.Key{Name: "laptop", Secret: key, Params: sequence.Defaults(),
		Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 1}
	st, err := spent.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	det := &fakeDetector{records: make(chan detector.Record, 4)}
	fw := &fakeFirewall{}
	clk := &clock{t: time.Unix(1_795_000_000, 0)}
	s, err := New(Options{Skew: 1, Detector: det, Firewall: fw, Spent: st, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	return s, det, fw, clk, k
}

func TestRefreshLoadsSkewWindows(t *testing.T) {
	s, det, _, clk, k := newTestServer(t, "")
	seqs := det.loaded()
	if len(seqs) != 3 {
		t.Fatalf("%d sequences loaded, want 3 (T-1, T, T+1)", len(seqs))
	}
	cur := k.Params.Window(clk.Now().Unix())
	want := map[uint64]bool{cur - 1: true, cur: true, cur + 1: true}
	for _, q := range seqs {
		if !want[q.Window] {
			t.Errorf("unexpected window %d", q.Window)
		}
		ports, _ := sequence.Ports(k.Secret, k.Params, q.Window, q.Counter)
		if len(ports) != len(q.Ports) {
			t.Fatalf("ports length mismatch")
		}
		for i := range ports {
			if ports[i] != q.Ports[i] {
				t.Fatalf("window %d: ports %v, want %v", q.Window, q.Ports, ports)
			}
		}
	}
	if got := s.Stats().SequencesLoaded; got != 3 {
		t.Errorf("SequencesLoaded = %d", got)
	}
}

func TestHandleGrantsOnceThenRefusesReplay(t *testing.T) {
	s, det, fw, _, k := newTestServer(t, "")
	seq := det.loaded()[1]
	src := netip.MustParseAddr("::ffff:10.77.0.2")
	rec := detector.Record{Source: src, KeyID: seq.KeyID, Window: seq.Window, Counter: seq.Counter}
	if err := s.Handle(rec); err != nil {
		t.Fatal(err)
	}
	if fw.count() != 1 {
		t.Fatalf("%d grants, want 1", fw.count())
	}
	g := fw.grants[0]
	if g.addr != netip.MustParseAddr("10.77.0.2") || g.ttl != k.Open || len(g.svcs) != 1 || g.svcs[0].Port != 22 || g.key != "laptop" {
		t.Fatalf("grant %+v", g)
	}
	if loaded, spent := det.spentOf(seq.KeyID, seq.Window, seq.Counter); !loaded || !spent || len(det.removed) != 0 {
		t.Fatalf("spent sequence: loaded %v, spent %v, removed %+v; want it kept in the kernel, marked spent", loaded, spent, det.removed)
	}

	// The same sequence again, from anyone: refused.
	rec.Source = netip.MustParseAddr("10.77.0.66")
	if err := s.Handle(rec); err != nil {
		t.Fatal(err)
	}
	if fw.count() != 1 {
		t.Fatal("replay granted access")
	}
	if s.Stats().ReplaysRefused != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}

	// A refresh keeps the spent sequence as spent.
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	if loaded, spent := det.spentOf(seq.KeyID, seq.Window, seq.Counter); !loaded || !spent {
		t.Fatalf("after a refresh the spent sequence is loaded %v, spent %v; want both", loaded, spent)
	}
}

func TestSpentSurvivesRestart(t *testing.T) {
	path := t.TempDir() + "/spent.json"
	s, det, fw, _, k := newTestServer(t, path)
	seq := det.loaded()[0]
	rec := detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: seq.KeyID, Window: seq.Window, Counter: seq.Counter}
	if err := s.Handle(rec); err != nil || fw.count() != 1 {
		t.Fatalf("first knock: err %v, grants %d", err, fw.count())
	}

	st, err := spent.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	det2 := &fakeDetector{}
	fw2 := &fakeFirewall{}
	s2, _ := New(Options{Skew: 1, Detector: det2, Firewall: fw2, Spent: st, Now: s.opts.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s2.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	if n := len(det2.loaded()); n != 3 {
		t.Fatalf("restarted server loaded %d sequences, want 3 (the spent one as spent)", n)
	}
	if loaded, spent := det2.spentOf(det2.loaded()[0].KeyID, seq.Window, seq.Counter); !loaded || !spent {
		t.Fatalf("restarted server: spent sequence loaded %v, spent %v; want both", loaded, spent)
	}
	rec.KeyID = det2.loaded()[0].KeyID
	if err := s2.Handle(rec); err != nil {
		t.Fatal(err)
	}
	if fw2.count() != 0 {
		t.Fatal("restarted server granted a spent sequence")
	}
}

func TestHandleRefusesStaleAndUnknown(t *testing.T) {
	s, det, fw, clk, k := newTestServer(t, "")
	seq := det.loaded()[0] // window T-1
	// The record waited in the ring buffer while two steps passed.
	clk.Set(clk.Now().Add(time.Duration(2*k.Params.Step) * time.Second))
	if err := s.Handle(detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: seq.KeyID, Window: seq.Window}); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle(detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: 999}); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if fw.count() != 0 || st.StaleRefused != 1 || st.UnknownKey != 1 {
		t.Fatalf("grants %d, stats %+v", fw.count(), st)
	}
}

func TestRemovedKeyStopsAtOnceAndIDsStayStable(t *testing.T) {
	s, det, _, _, k := newTestServer(t, "")
	id := det.loaded()[0].KeyID
	other, _ := psk.Generate()
	k2 := k
	k2.Name, k2.Secret = "phone", other
	if err := s.SetKeys([]config.Key{k, k2}); err != nil {
		t.Fatal(err)
	}
	if n := len(det.loaded()); n != 6 {
		t.Fatalf("%d sequences for two keys, want 6", n)
	}
	// Adding a key must not renumber the existing one: progress the kernel holds for it stays valid.
	ids := map[uint32]int{}
	for _, q := range det.loaded() {
		ids[q.KeyID]++
	}
	if len(ids) != 2 || ids[id] != 3 {
		t.Fatalf("key ids after adding a key: %v, want the old id %d kept with 3 sequences", ids, id)
	}
	if err := s.SetKeys([]config.Key{k2}); err != nil {
		t.Fatal(err)
	}
	for _, q := range det.loaded() {
		if q.KeyID == id {
			t.Fatal("removed key's sequences still loaded")
		}
	}
	if len(det.loaded()) != 3 {
		t.Fatalf("%d sequences after removing a key, want 3", len(det.loaded()))
	}
	if got := s.Keys(); len(got) != 1 || got[0].Name != "phone" {
		t.Fatalf("keys %+v", got)
	}
}

func TestServeHandlesRecordsAndStops(t *testing.T) {
	s, det, fw, _, _ := newTestServer(t, "")
	seq := det.loaded()[1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	det.records <- detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: seq.KeyID, Window: seq.Window, Counter: seq.Counter}
	waitfor.Until(5*time.Second, func() bool { return fw.count() != 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fw.count() != 1 {
		t.Fatal("Run did not grant the completed knock")
	}
}

func TestNextBoundary(t *testing.T) {
	s, _, _, _, _ := newTestServer(t, "")
	now := time.Unix(1_795_000_010, 500)
	if got, want := s.NextBoundary(now), time.Unix(1_795_000_020, 0); !got.Equal(want) {
		t.Fatalf("next boundary %v, want %v", got, want)
	}
}

func TestSweepableSequencesAreRecognised(t *testing.T) {
	for _, c := range []struct {
		ports []uint16
		want  bool
	}{
		{[]uint16{1000, 1001, 1002, 1003}, true},
		{[]uint16{5003, 5002, 5001, 5000}, true},
		{[]uint16{1000, 1001}, true},
		{[]uint16{1000, 1001, 1003, 1004}, false},
		{[]uint16{1000, 1000, 1000, 1000}, false},
		{[]uint16{1000, 999, 1000, 1001}, false},
		{[]uint16{65534, 65535, 0, 1}, false},
		{[]uint16{8377, 8627, 63371, 46922}, false},
	} {
		if got := sweepable(c.ports); got != c.want {
			t.Errorf("sweepable(%v) = %v, want %v", c.ports, got, c.want)
		}
	}
}

// failingSpent is a spent store whose Spend fails while fail is set, and Advance while
// failAdvance is.
type failingSpent struct {
	*spent.Store
	mu          sync.Mutex // guards fail, failAdvance
	fail        error
	failAdvance error
}

func (f *failingSpent) Advance(step int64, current uint64, skew int) error {
	f.mu.Lock()
	err := f.failAdvance
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Store.Advance(step, current, skew)
}

func (f *failingSpent) Spend(u spent.Use) (bool, error) {
	f.mu.Lock()
	err := f.fail
	f.mu.Unlock()
	if err != nil {
		return false, err
	}
	return f.Store.Spend(u)
}

func (f *failingSpent) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// logLines decodes a JSON log.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

var decisions = map[string]bool{
	"access granted":                        true,
	"replay refused":                        true,
	"knock outside its time window refused": true,
	"knock for an unknown key refused":      true,
	"grant failed":                          true,
}

// Every completed sequence is exactly one decision, in the counters and in the log, including
// when the spent store or the firewall fails.
func TestEveryRecordIsOneDecision(t *testing.T) {
	key, _ := psk.Generate()
	k := config.Key{Name: "laptop", Secret: key, Params: sequence.Defaults(),
		Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 4}
	st, _ := spent.Open("")
	sp := &failingSpent{Store: st}
	det := &fakeDetector{}
	fw := &fakeFirewall{}
	clk := &clock{t: time.Unix(1_795_000_000, 0)}
	var logBuf bytes.Buffer
	s, err := New(Options{Skew: 1, Detector: det, Firewall: fw, Spent: sp, Now: clk.Now,
		Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	logBuf.Reset()
	id := det.loaded()[0].KeyID
	cur := k.Params.Window(clk.Now().Unix())
	src := netip.MustParseAddr("10.77.0.2")
	rec := func(w uint64, c uint32) detector.Record {
		return detector.Record{Source: src, KeyID: id, Window: w, Counter: c}
	}

	steps := []struct {
		rec  detector.Record
		prep func()
		want string
	}{
		{rec(cur, 0), nil, "access granted"},
		{rec(cur, 0), nil, "replay refused"},
		{rec(cur-3, 0), nil, "knock outside its time window refused"},
		{rec(cur+2, 0), nil, "knock outside its time window refused"},
		{detector.Record{Source: src, KeyID: id + 100, Window: cur}, nil, "knock for an unknown key refused"},
		{rec(cur, 1), func() { sp.setFail(syscall.ENOSPC) }, "grant failed"},
		// Space freed: the same knock works, it was never recorded.
		{rec(cur, 1), func() { sp.setFail(nil) }, "access granted"},
		// Window cur+1: "replay refused" is logged once a minute per key and window.
		{rec(cur+1, 2), func() { fw.setFail(errors.New("netlink: no buffer space")) }, "grant failed"},
		// A failed Allow still spent the use: the same sequence again is a replay, not a grant.
		{rec(cur+1, 2), func() { fw.setFail(nil) }, "replay refused"},
		{rec(cur-1, 3), nil, "access granted"},
	}
	for i, st := range steps {
		if st.prep != nil {
			st.prep()
		}
		logBuf.Reset()
		if err := s.Handle(st.rec); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		var got []string
		for _, l := range logLines(t, &logBuf) {
			msg, _ := l["msg"].(string)
			if !decisions[msg] {
				continue
			}
			got = append(got, msg)
			if msg != "knock for an unknown key refused" && l["key"] != "laptop" {
				t.Errorf("step %d: decision line without the key name: %v", i, l)
			}
			for _, field := range []string{"source", "window", "counter"} {
				if _, ok := l[field]; !ok {
					t.Errorf("step %d: decision line without %s: %v", i, field, l)
				}
			}
			if msg == "grant failed" && l["err"] == nil {
				t.Errorf("step %d: grant failure without its error: %v", i, l)
			}
		}
		if len(got) != 1 || got[0] != st.want {
			t.Fatalf("step %d: decision lines %q, want exactly [%q]", i, got, st.want)
		}
	}

	stats := s.Stats()
	if stats.HandledRecords != uint64(len(steps)) {
		t.Fatalf("HandledRecords = %d, want %d", stats.HandledRecords, len(steps))
	}
	sum := stats.Grants + stats.ReplaysRefused + stats.StaleRefused + stats.UnknownKey + stats.GrantErrors
	if sum != stats.HandledRecords {
		t.Fatalf("decisions add up to %d, handled %d: %+v", sum, stats.HandledRecords, stats)
	}
	if stats.Grants != 3 || stats.ReplaysRefused != 2 || stats.StaleRefused != 2 || stats.UnknownKey != 1 || stats.GrantErrors != 2 {
		t.Fatalf("stats %+v", stats)
	}
	if fw.count() != 3 {
		t.Fatalf("%d grants reached the firewall, want 3", fw.count())
	}
}

// A clock that steps back must not make a spent knock, forgotten since, acceptable again; nor
// may a key that is missing from one reload lose its spent uses.
func TestClockStepBackAndKeyGapNeverReopen(t *testing.T) {
	path := t.TempDir() + "/spent.json"
	s, det, fw, clk, k := newTestServer(t, path)
	start := clk.Now()
	seq := det.loaded()[1] // window T
	rec := detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: seq.KeyID, Window: seq.Window, Counter: seq.Counter}
	if err := s.Handle(rec); err != nil || fw.count() != 1 {
		t.Fatalf("first knock: %v, %d grants", err, fw.count())
	}

	// The key is missing from one reload, then back.
	if err := s.SetKeys(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	rec.KeyID = det.loaded()[0].KeyID
	if err := s.Handle(rec); err != nil || fw.count() != 1 {
		t.Fatalf("knock accepted again after the key was reloaded: %v, %d grants", err, fw.count())
	}

	// Time moves on three steps (the use is forgotten), then the clock steps back to the start.
	clk.Set(start.Add(3 * time.Duration(k.Params.Step) * time.Second))
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	clk.Set(start)
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	for _, q := range det.loaded() {
		if q.Window <= seq.Window {
			t.Fatalf("window %d loaded after the clock stepped back; the floor is above it", q.Window)
		}
	}
	if err := s.Handle(rec); err != nil {
		t.Fatal(err)
	}
	if fw.count() != 1 {
		t.Fatal("a forgotten knock opened again after the clock stepped back")
	}
	if s.Stats().StaleRefused != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}

	// And after a restart.
	st, err := spent.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	det2, fw2 := &fakeDetector{}, &fakeFirewall{}
	s2, _ := New(Options{Skew: 1, Detector: det2, Firewall: fw2, Spent: st, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s2.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	rec.KeyID = 1
	s2.Handle(rec)
	if fw2.count() != 0 {
		t.Fatal("a forgotten knock opened after a restart with the clock behind")
	}
}

// smallDetector refuses more sequences than it has slots, like the real table.
type smallDetector struct {
	fakeDetector
	slots int
}

func (d *smallDetector) SetSequences(s []detector.Sequence) error {
	if len(s) > d.slots {
		return fmt.Errorf("loading %d sequences: %d slots (raise MaxSequences)", len(s), d.slots)
	}
	return d.fakeDetector.SetSequences(s)
}

func (d *smallDetector) Update(remove []detector.Ref, add []detector.Sequence) error {
	if d.Len()+len(add) > d.slots+len(remove) {
		return fmt.Errorf("adding %d sequences: %d slots (raise MaxSequences)", len(add), d.slots)
	}
	return d.fakeDetector.Update(remove, add)
}

// Keys beyond the table's size leave sequences out, least useful first, instead of locking every
// key out.
func TestRefreshBeyondCapacityKeepsCurrentWindows(t *testing.T) {
	det := &smallDetector{slots: 10}
	st, _ := spent.Open("")
	clk := &clock{t: time.Unix(1_795_000_000, 0)}
	var logBuf bytes.Buffer
	s, _ := New(Options{Skew: 1, Detector: det, Firewall: &fakeFirewall{}, Spent: st, Now: clk.Now,
		MaxSequences: det.slots, Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	var keys []config.Key
	for i := range 4 {
		key, _ := psk.Generate()
		keys = append(keys, config.Key{Name: fmt.Sprintf("k%d", i), Secret: key, Params: sequence.Defaults(),
			Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 2})
	}
	// 4 keys × 3 windows × 2 counters = 24 sequences for 10 slots.
	if err := s.SetKeys(keys); err != nil {
		t.Fatalf("a reload beyond capacity failed wholesale: %v", err)
	}
	cur := keys[0].Params.Window(clk.Now().Unix())
	got := det.loaded()
	if len(got) != 10 {
		t.Fatalf("%d sequences loaded, want the 10 that fit", len(got))
	}
	current := map[uint32]bool{}
	byClass := map[string]int{}
	for _, q := range got {
		switch {
		case q.Counter == 0 && q.Window == cur:
			current[q.KeyID] = true
			byClass["current"]++
		case q.Counter == 0:
			byClass["neighbour"]++
		default:
			byClass["extra"]++
		}
	}
	// 4 current windows, then all 8 neighbours would not fit: 6 of them, and no extra counter.
	if len(current) != 4 || byClass["neighbour"] != 6 || byClass["extra"] != 0 {
		t.Fatalf("loaded %v (current windows of %d keys), want every key's current window first", byClass, len(current))
	}
	stats := s.Stats()
	if stats.SequencesLeftOut != 14 || stats.TruncatedRefreshes != 1 || stats.SequencesLoaded != 10 {
		t.Fatalf("stats %+v", stats)
	}
	n := 0
	for _, l := range logLines(t, &logBuf) {
		if l["level"] == "ERROR" {
			n++
			if l["left_out"] != float64(14) || !strings.Contains(l["msg"].(string), "restart") {
				t.Fatalf("error line %v does not say how many were left out and that a restart resizes", l)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d error lines for one truncated refresh, want 1", n)
	}
}

func TestSlots(t *testing.T) {
	key := func(uses int) config.Key { return config.Key{Uses: uses} }
	many := func(n, uses int) []config.Key {
		out := make([]config.Key, n)
		for i := range out {
			out[i] = key(uses)
		}
		return out
	}
	for _, c := range []struct {
		keys []config.Key
		skew int
		want int
	}{
		{nil, 1, bpf.DefaultMaxSequences},
		{many(10, 1), 1, bpf.DefaultMaxSequences},
		// 3,100 keys at skew 10 need 3100 × 22 = 68,200 slots, over the old fixed 65,536.
		{many(3100, 1), 10, 68200 + 68200/4},
		// 22 keys with 1024 uses at skew 10: 22 × 22 × 1024 = 495,616.
		{many(22, 1024), 10, 495616 + 495616/4},
		// Near the cap: the headroom is cut, the need is not.
		{many(700, 1024), 10, bpf.MaxSlots},
	} {
		got, err := Slots(c.keys, c.skew)
		if err != nil || got != c.want {
			t.Errorf("Slots(%d keys, skew %d) = %d, %v; want %d", len(c.keys), c.skew, got, err, c.want)
		}
	}
	_, err := Slots(many(1000, 1024), 10)
	if err == nil || !strings.Contains(err.Error(), "22528000") || !strings.Contains(err.Error(), "16777216") {
		t.Fatalf("Slots over the cap = %v, want an error naming 22528000 and 16777216", err)
	}
}

// When the current window cannot be recorded (a full disk), Refresh keeps loading what the store
// can vouch for, refuses the newer windows, and loads them once the write works again.
func TestRefreshWhileAdvanceFails(t *testing.T) {
	key, _ := psk.Generate()
	k := config.Key{Name: "laptop", Secret: key, Params: sequence.Defaults(),
		Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 1}
	st, _ := spent.Open("")
	sp := &failingSpent{Store: st}
	det, fw := &fakeDetector{}, &fakeFirewall{}
	clk := &clock{t: time.Unix(1_795_000_000, 0)}
	s, _ := New(Options{Skew: 1, Detector: det, Firewall: fw, Spent: sp, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	cur := k.Params.Window(clk.Now().Unix())
	windows := func() map[uint64]bool {
		m := map[uint64]bool{}
		for _, q := range det.loaded() {
			m[q.Window] = true
		}
		return m
	}

	sp.mu.Lock()
	sp.failAdvance = syscall.ENOSPC
	sp.mu.Unlock()
	clk.Set(clk.Now().Add(time.Duration(k.Params.Step) * time.Second))
	if err := s.Refresh(); err != nil {
		t.Fatalf("Refresh failed wholesale: %v", err)
	}
	if w := windows(); len(w) != 2 || !w[cur] || !w[cur+1] {
		t.Fatalf("windows loaded while the mark cannot be written: %v, want %d and %d", w, cur, cur+1)
	}
	id := det.loaded()[0].KeyID
	s.Handle(detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: id, Window: cur + 2})
	if fw.count() != 0 || s.Stats().StaleRefused != 1 {
		t.Fatalf("a window above the recorded mark was granted: %+v", s.Stats())
	}

	sp.mu.Lock()
	sp.failAdvance = nil
	sp.mu.Unlock()
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	if w := windows(); len(w) != 3 || !w[cur+2] {
		t.Fatalf("windows after the write works again: %v, want %d..%d", w, cur, cur+2)
	}
}

// countingDetector counts the sequences written, and can fail Update.
type countingDetector struct {
	fakeDetector
	mu      sync.Mutex // guards written, fail
	written int
	fail    bool
}

func (d *countingDetector) Update(remove []detector.Ref, add []detector.Sequence) error {
	d.mu.Lock()
	fail := d.fail
	d.written += len(add)
	d.mu.Unlock()
	if fail {
		return errors.New("injected update failure")
	}
	return d.fakeDetector.Update(remove, add)
}

func (d *countingDetector) SetSequences(seqs []detector.Sequence) error {
	d.mu.Lock()
	d.written += len(seqs)
	d.mu.Unlock()
	return d.fakeDetector.SetSequences(seqs)
}

func (d *countingDetector) take() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.written
	d.written = 0
	return n
}

func seqSet(seqs []detector.Sequence) map[string]bool {
	m := make(map[string]bool, len(seqs))
	for _, q := range seqs {
		m[fmt.Sprint(q.KeyID, q.Window, q.Counter, q.Ports)] = true
	}
	return m
}

// A time step writes one window per key, and after steps, spends, a failed write and reloads
// that change, add and remove keys the kernel holds exactly what a rebuild from scratch would.
func TestStepsMatchRebuild(t *testing.T) {
	mk := func(name string, uses int) config.Key {
		key, _ := psk.Generate()
		return config.Key{Name: name, Secret: key, Params: sequence.Defaults(),
			Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: uses}
	}
	keys := []config.Key{mk("a", 1), mk("b", 2), mk("c", 1)}
	st, _ := spent.Open("")
	det := &countingDetector{}
	clk := &clock{t: time.Unix(1_795_000_000, 0)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, _ := New(Options{Skew: 2, Detector: det, Firewall: &fakeFirewall{}, Spent: st, Now: clk.Now, Logger: quiet})
	if err := s.SetKeys(keys); err != nil {
		t.Fatal(err)
	}
	if n := det.take(); n != 5*4 {
		t.Fatalf("start wrote %d sequences, want 20", n)
	}
	check := func(when string) {
		t.Helper()
		// A fresh server over the same spent store and keys computes the whole set.
		ref := &fakeDetector{}
		r, _ := New(Options{Skew: 2, Detector: ref, Firewall: &fakeFirewall{}, Spent: st, Now: clk.Now, Logger: quiet})
		s.mu.Lock()
		r.keys, r.list, r.ids, r.nextID, r.steps = s.keys, s.list, s.ids, s.nextID, s.steps
		s.mu.Unlock()
		if err := r.Refresh(); err != nil {
			t.Fatal(err)
		}
		got, want := seqSet(det.loaded()), seqSet(ref.loaded())
		if len(got) != len(want) || len(det.loaded()) != len(got) {
			t.Fatalf("%s: %d sequences loaded (%d distinct), a rebuild has %d", when, len(det.loaded()), len(got), len(want))
		}
		for q := range want {
			if !got[q] {
				t.Fatalf("%s: %s missing", when, q)
			}
		}
	}
	check("start")
	for step := range 5 {
		clk.Set(clk.Now().Add(30 * time.Second))
		if err := s.Refresh(); err != nil {
			t.Fatal(err)
		}
		if n := det.take(); n != 4 {
			t.Errorf("step %d wrote %d sequences, want one window: 4", step, n)
		}
		check(fmt.Sprintf("step %d", step))
		q := det.loaded()[step]
		if err := s.Handle(detector.Record{Source: netip.MustParseAddr("10.0.0.1"), KeyID: q.KeyID, Window: q.Window, Counter: q.Counter}); err != nil {
			t.Fatal(err)
		}
	}
	// A failed write leaves the next refresh to rewrite everything.
	det.mu.Lock()
	det.fail = true
	det.mu.Unlock()
	clk.Set(clk.Now().Add(30 * time.Second))
	if err := s.Refresh(); err == nil {
		t.Fatal("failed write not reported")
	}
	det.mu.Lock()
	det.fail = false
	det.mu.Unlock()
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	check("after a failed write")
	det.take()
	// A reload: b's uses change, c goes, d comes; a is untouched. The server keeps pointers into
	// the keys it was given (SetKeys), so the reload's are new ones, as the gateway's are.
	keys = slices.Clone(keys)
	keys[1].Uses = 1
	if err := s.SetKeys([]config.Key{keys[0], keys[1], mk("d", 1)}); err != nil {
		t.Fatal(err)
	}
	if n := det.take(); n > 10 || n < 5 {
		t.Errorf("reload wrote %d sequences, want b's and d's 5 windows: 10 less the spent", n)
	}
	check("after a reload")
	// A clock jump writes the new range whole.
	clk.Set(clk.Now().Add(time.Hour))
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	check("after a clock jump")
}

package server

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/spent"
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

func (d *fakeDetector) Remove(keyID uint32, window uint64, counter uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removed = append(d.removed, detector.Sequence{KeyID: keyID, Window: window, Counter: counter})
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
	svcs []firewall.Service
	ttl  time.Duration
	key  string
}

type fakeFirewall struct {
	mu     sync.Mutex // guards grants, fail
	grants []grant
	fail   error // Allow fails with this when set
}

func (f *fakeFirewall) Allow(addr netip.Addr, svcs []firewall.Service, ttl time.Duration, key string) error {
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
		Services: []firewall.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 1}
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
	if len(det.removed) != 1 || det.removed[0].Window != seq.Window {
		t.Fatalf("spent sequence not removed from the kernel: %+v", det.removed)
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

	// A refresh must not load the spent sequence again.
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	for _, q := range det.loaded() {
		if q.Window == seq.Window && q.Counter == seq.Counter {
			t.Fatal("spent sequence reloaded into the kernel")
		}
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
	if n := len(det2.loaded()); n != 2 {
		t.Fatalf("restarted server loaded %d sequences, want 2 (the spent one left out)", n)
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

func TestRunHandlesRecordsAndStops(t *testing.T) {
	s, det, fw, _, _ := newTestServer(t, "")
	seq := det.loaded()[1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, nil) }()
	det.records <- detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: seq.KeyID, Window: seq.Window, Counter: seq.Counter}
	deadline := time.Now().Add(5 * time.Second)
	for fw.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
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
	if got, want := s.nextBoundary(now), time.Unix(1_795_000_020, 0); !got.Equal(want) {
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

package server

import (
	"bytes"
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/spent"
)

// MarkSpent flags the loaded sequence spent, as the detector does; nothing if it is not loaded.
func (d *fakeDetector) MarkSpent(keyID uint32, window uint64, counter uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, q := range d.seqs {
		if q.KeyID == keyID && q.Window == window && q.Counter == counter {
			d.seqs[i].Spent = true
		}
	}
	return nil
}

// spentOf says whether (key, window, counter) is loaded and whether it is spent.
func (d *fakeDetector) spentOf(keyID uint32, window uint64, counter uint32) (loaded, spent bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range d.seqs {
		if q.KeyID == keyID && q.Window == window && q.Counter == counter {
			return true, q.Spent
		}
	}
	return false, false
}

// unmarkable is a detector whose MarkSpent fails.
type unmarkable struct{ *fakeDetector }

func (unmarkable) MarkSpent(uint32, uint64, uint32) error {
	return errors.New("bpf: map update failed")
}

// replayServer is a server with one key (uses 2) on fakes, logging JSON into a buffer.
func replayServer(t *testing.T, det Detector, sp Spent) (*Server, *fakeFirewall, *clock, *bytes.Buffer, uint32, uint64) {
	t.Helper()
	key, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k := config.Key{Name: "laptop", Secret: key, Params: sequence.Defaults(),
		Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 2}
	if sp == nil {
		if sp, err = spent.Open(""); err != nil {
			t.Fatal(err)
		}
	}
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
	id := s.ids[keyIdent{"laptop", key.Fingerprint()}]
	return s, fw, clk, &logBuf, id, k.Params.Window(clk.Now().Unix())
}

// replayLines returns the "replay refused" lines logged since the last reset of b.
func replayLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range logLines(t, b) {
		if l["msg"] == "replay refused" {
			out = append(out, l)
		}
	}
	return out
}

// TestReplayIsRefusedLoggedAndCounted: after a grant the sequence stays in the kernel as spent;
// the kernel's replay record from another address opens nothing, is counted, and gives one
// "replay refused" line naming the key, source and window. More replays of that key and window
// within a minute are counted but not logged; the next line says how many were not.
func TestReplayIsRefusedLoggedAndCounted(t *testing.T) {
	det := &fakeDetector{}
	s, fw, clk, logBuf, id, cur := replayServer(t, det, nil)
	client, attacker := netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("10.77.0.9")
	if err := s.Handle(detector.Record{Source: client, KeyID: id, Window: cur, Counter: 0}); err != nil {
		t.Fatal(err)
	}
	if loaded, spent := det.spentOf(id, cur, 0); !loaded || !spent {
		t.Fatalf("granted sequence: loaded %v spent %v; want it kept, marked spent", loaded, spent)
	}

	logBuf.Reset()
	replay := detector.Record{Source: attacker, KeyID: id, Window: cur, Counter: 0, Replay: true}
	if err := s.Handle(replay); err != nil {
		t.Fatal(err)
	}
	lines := replayLines(t, logBuf)
	if len(lines) != 1 {
		t.Fatalf("%d replay lines, want 1: %s", len(lines), logBuf)
	}
	l := lines[0]
	if l["key"] != "laptop" || l["source"] != attacker.String() || l["window"] != float64(cur) || l["level"] != "WARN" {
		t.Errorf("replay line %v: want key laptop, source %v, window %d, level WARN", l, attacker, cur)
	}
	if fw.count() != 1 {
		t.Fatalf("%d grants, want only the client's", fw.count())
	}

	// A loop of replays: counted, logged no more within the minute, another window logged apart.
	logBuf.Reset()
	for i := range 20 {
		replay.Counter = uint32(i % 2)
		clk.Set(clk.Now().Add(time.Second))
		if err := s.Handle(replay); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(replayLines(t, logBuf)); n != 0 {
		t.Errorf("%d replay lines within the minute, want 0: %s", n, logBuf)
	}
	other := replay
	other.Window = cur + 1
	if err := s.Handle(other); err != nil {
		t.Fatal(err)
	}
	if n := len(replayLines(t, logBuf)); n != 1 {
		t.Errorf("%d replay lines for another window, want 1: %s", n, logBuf)
	}
	logBuf.Reset()
	clk.Set(clk.Now().Add(replayLogEvery))
	if err := s.Handle(replay); err != nil {
		t.Fatal(err)
	}
	lines = replayLines(t, logBuf)
	if len(lines) != 1 || lines[0]["unlogged"] != float64(20) {
		t.Errorf("after the minute: lines %v, want one with unlogged 20", lines)
	}

	st := s.Stats()
	if st.ReplaysRefused != 23 || st.Grants != 1 || fw.count() != 1 {
		t.Errorf("stats %+v, firewall grants %d; want 23 replays refused, 1 grant", st, fw.count())
	}
	if sum := st.Grants + st.ReplaysRefused + st.StaleRefused + st.UnknownKey + st.GrantErrors; sum != st.HandledRecords {
		t.Errorf("decisions add up to %d, handled %d", sum, st.HandledRecords)
	}
}

// TestReplayFlagNeverOpens: a record the kernel marks as a replay is refused even if the spent
// store has no use for it (it cannot happen, but the flag alone must never let anyone in), and
// even out of its window it is reported as what it is.
func TestReplayFlagNeverOpens(t *testing.T) {
	det := &fakeDetector{}
	s, fw, _, logBuf, id, cur := replayServer(t, det, nil)
	for _, w := range []uint64{cur, cur - 5} {
		logBuf.Reset()
		if err := s.Handle(detector.Record{Source: netip.MustParseAddr("10.77.0.9"), KeyID: id, Window: w, Counter: 1, Replay: true}); err != nil {
			t.Fatal(err)
		}
		if n := len(replayLines(t, logBuf)); n != 1 {
			t.Errorf("window %d: %d replay lines, want 1: %s", w, n, logBuf)
		}
	}
	if fw.count() != 0 || s.Stats().ReplaysRefused != 2 {
		t.Errorf("firewall grants %d, stats %+v; want none and 2 replays refused", fw.count(), s.Stats())
	}
}

// TestMarkFailureStillRefusesReplay: when the kernel cannot mark the sequence spent, the grant
// stands (the use is on disk) and Handle says what failed; the sequence's next completion comes
// without the replay flag and is refused from the spent store, and marked again.
func TestMarkFailureStillRefusesReplay(t *testing.T) {
	fake := &fakeDetector{}
	s, fw, _, logBuf, id, cur := replayServer(t, unmarkable{fake}, nil)
	rec := detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: id, Window: cur, Counter: 0}
	if err := s.Handle(rec); err == nil {
		t.Error("Handle hid the failure to mark the sequence spent")
	}
	if fw.count() != 1 {
		t.Fatalf("%d grants, want 1", fw.count())
	}
	logBuf.Reset()
	rec.Source = netip.MustParseAddr("10.77.0.9")
	if err := s.Handle(rec); err == nil {
		t.Error("Handle hid the second failure to mark the sequence spent")
	}
	if fw.count() != 1 || s.Stats().ReplaysRefused != 1 || len(replayLines(t, logBuf)) != 1 {
		t.Errorf("grants %d, stats %+v, log %s; want the replay refused and logged", fw.count(), s.Stats(), logBuf)
	}
}

// TestRestartLoadsSpentAsSpent: a server started on the spent store of one that granted loads the
// spent sequence again, marked spent, and the rest live.
func TestRestartLoadsSpentAsSpent(t *testing.T) {
	path := t.TempDir() + "/spent.json"
	st, err := spent.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	det := &fakeDetector{}
	s, _, _, _, id, cur := replayServer(t, det, st)
	if err := s.Handle(detector.Record{Source: netip.MustParseAddr("10.77.0.2"), KeyID: id, Window: cur, Counter: 1}); err != nil {
		t.Fatal(err)
	}
	st2, err := spent.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	det2 := &fakeDetector{}
	s2, err := New(Options{Skew: 1, Detector: det2, Firewall: &fakeFirewall{}, Spent: st2, Now: s.opts.Now,
		Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var keys []config.Key
	for _, k := range s.keysSnapshot() {
		keys = append(keys, *k)
	}
	if err := s2.SetKeys(keys); err != nil {
		t.Fatal(err)
	}
	spentN := 0
	for _, q := range det2.loaded() {
		if q.Spent {
			spentN++
			if q.Window != cur || q.Counter != 1 {
				t.Errorf("loaded as spent: window %d counter %d; want %d, 1", q.Window, q.Counter, cur)
			}
		}
	}
	if n := len(det2.loaded()); n != 6 || spentN != 1 {
		t.Errorf("restart loaded %d sequences, %d spent; want 6 (3 windows × 2 uses), 1 spent", n, spentN)
	}
}

// TestSpentGoFirstUnderSlotPressure: when the keys need more slots than there are, spent
// sequences are left out before any that can still open, even the farthest window's extra counter.
func TestSpentGoFirstUnderSlotPressure(t *testing.T) {
	key, _ := psk.Generate()
	k := &config.Key{Name: "laptop", Secret: key, Params: sequence.Defaults(), Uses: 2}
	now := int64(1_795_000_000)
	cur := k.Params.Window(now)
	seqs := []detector.Sequence{
		{KeyID: 1, Window: cur, Counter: 0, Spent: true},
		{KeyID: 1, Window: cur + 1, Counter: 1},
		{KeyID: 1, Window: cur - 1, Counter: 0},
		{KeyID: 1, Window: cur, Counter: 1, Spent: true},
	}
	got := mostUseful(seqs, map[uint32]*config.Key{1: k}, now, 2)
	if len(got) != 2 {
		t.Fatalf("kept %d sequences, want 2: %+v", len(got), got)
	}
	for _, q := range got {
		if q.Spent {
			t.Errorf("kept spent sequence %+v over a live one: %+v", q, got)
		}
	}
}

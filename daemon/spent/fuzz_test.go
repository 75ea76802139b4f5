package spent

import (
	"bytes"
	"maps"
	"strings"
	"testing"
	"time"
)

const fuzzPath = "/var/lib/hyp/spent.log"

// fuzzLog returns a real log: a store that advanced to window 100 of step 30, spent two uses and
// stopped cleanly or not.
func fuzzLog(tb testing.TB, clean bool) []byte {
	m := newMemFS()
	s := mustOpen(tb, fuzzPath, Options{BootID: "b", storage: m})
	s.Advance(30, 100, 1)
	s.Advance(60, 50, 2)
	mustSpend(tb, s, use(1, 100, 0))
	mustSpend(tb, s, Use{Key: fp(2), Step: 60, Window: 51, Counter: 3})
	if clean {
		s.Close()
	}
	data, _ := m.ReadFile(fuzzPath)
	return data
}

// FuzzOpen opens arbitrary bytes as the log. Open refuses what does not begin with a log's header
// (naming the file); what it loads it writes back (compaction) so that the next start loads
// exactly the same state, and every use it loaded counts as spent.
func FuzzOpen(f *testing.F) {
	f.Add(fuzzLog(f, true))
	f.Add(fuzzLog(f, false))
	f.Add([]byte(`{"version":1,"spent":[{"id":1,"window":5,"counter":0}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{`))
	f.Add([]byte{})
	f.Add([]byte("\n\t "))
	f.Add(fuzzLog(f, false)[:recSize])
	f.Add(append(fuzzLog(f, false), recUse, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMemFS()
		m.Replace(fuzzPath, data)
		now := time.Unix(1_700_000_000, 0)
		s, err := OpenOptions(fuzzPath, Options{BootID: "b", storage: m, Now: func() time.Time { return now }})
		trimmed := bytes.TrimSpace(data)
		json := len(trimmed) > 0 && trimmed[0] == '{'
		if err != nil {
			if !strings.Contains(err.Error(), fuzzPath) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if !json && len(data) > 0 && (len(data) < recSize || !validRecord(data[:recSize]) || data[0] != recHeader || string(data[8:24]) != magic) {
			t.Fatalf("%x: opened a file that does not start with a log header", data)
		}
		for u := range s.used {
			if !s.Spent(u) {
				t.Fatalf("loaded use %+v is not spent", u)
			}
			if u.Window < s.marks[u.Step].floor {
				t.Fatalf("kept use %+v below its floor %d", u, s.marks[u.Step].floor)
			}
		}
		used, marks, doubt := maps.Clone(s.used), maps.Clone(s.marks), s.doubt
		// A crash right after the start: the compacted file alone must carry the state.
		again, err := OpenOptions(fuzzPath, Options{BootID: "b", storage: m})
		if err != nil {
			t.Fatalf("the log written by a start does not open: %v", err)
		}
		if !maps.Equal(again.used, used) || !maps.Equal(again.marks, marks) || again.doubt != doubt {
			t.Fatalf("compaction changed the state:\nused  %v\n      %v\nmarks %v\n      %v\ndoubt %d, %d",
				used, again.used, marks, again.marks, doubt, again.doubt)
		}
	})
}

// FuzzDamagedLog runs a store through a sequence of operations (ops: a byte of operation, a byte
// of argument each), damages the log it leaves (damage written over it at offset at), and starts
// again, in the same boot and in another one. The start refuses the log, or every use that was
// spent is still spent once the gateway has told the store the time: damage never reopens a knock.
func FuzzDamagedLog(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 1, 1}, uint16(3*recSize+10), []byte{1})
	f.Add([]byte{0, 0, 1, 2, 1, 3, 4, 0, 1, 4}, uint16(4*recSize), []byte{0xff})
	f.Add([]byte{0, 0, 1, 0, 1, 1}, uint16(0), []byte{'X'})
	f.Add([]byte{0, 0, 1, 0, 5, 0, 0, 40, 1, 9}, uint16(5*recSize+1), bytes.Repeat([]byte{0}, 2*recSize))
	f.Add([]byte{0, 0, 1, 0, 3, 0, 0, 200, 1, 200, 1, 201}, uint16(7*recSize+3), []byte{7, 7})
	f.Add([]byte{0, 0, 1, 7, 6, 30, 1, 0}, uint16(6*recSize), []byte("garbage"))
	f.Fuzz(func(t *testing.T, ops []byte, at uint16, damage []byte) {
		if len(ops) > 64 || len(damage) > 4*recSize {
			return
		}
		m := newMemFS()
		clock := int64(3000) // seconds; window 100 of step 30
		latest := clock
		now := func() time.Time { return time.Unix(clock, 0) }
		open := func(boot string) *Store {
			s, err := OpenOptions(fuzzPath, Options{BootID: boot, storage: m, Now: now})
			if err != nil {
				t.Fatalf("opening the undamaged log: %v", err)
			}
			return s
		}
		s := open("b")
		var spent []Use
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			switch op % 8 {
			case 0, 1: // time passes; the gateway advances both clocks
				clock += int64(arg)
				latest = max(latest, clock)
				for _, step := range []int64{30, 60} {
					if err := s.Advance(step, uint64(clock/step), 1); err != nil {
						t.Fatal(err)
					}
				}
			case 2, 3, 4: // a knock of a loaded sequence: a window between floor and ceiling
				step := int64(30)
				if op&8 != 0 {
					step = 60
				}
				lo, hi, ok := s.Bounds(step)
				if !ok {
					continue
				}
				u := Use{Key: fp(arg % 3), Step: step, Window: lo + uint64(arg)%(hi-lo+1), Counter: uint32(arg>>4) % 3}
				ok, err := s.Spend(u)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					spent = append(spent, u)
				}
			case 5: // a clean restart
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = open("b")
			case 6: // kill -9 and a start in the same boot
				s = open("b")
			case 7: // the clock steps back
				clock = max(0, clock-int64(arg)) // windows start in 1970 (sequence.Params.Window)
			}
		}
		// The start after the damage happens with the clock at or after the latest time the run
		// reached. (A damaged log and a clock that is behind it at once can reopen a knock:
		// damage that takes every record showing how far the clock had got leaves the store
		// nothing to refuse by. Records carry no time of their own.)
		clock = max(clock, latest)
		data, _ := m.ReadFile(fuzzPath)
		if len(damage) > 0 && len(data) > 0 {
			pos := int(at) % (len(data) + 1)
			if end := pos + len(damage); end > len(data) {
				data = append(data, make([]byte, end-len(data))...)
			}
			copy(data[pos:], damage)
		}
		for _, boot := range []string{"b", "another boot"} {
			m.Replace(fuzzPath, data)
			s2, err := OpenOptions(fuzzPath, Options{BootID: boot, storage: m, Now: now})
			if err != nil {
				continue // refused: hypd does not start on it
			}
			for _, step := range []int64{30, 60} {
				// What the gateway does first: tell the store the time.
				if err := s2.Advance(step, uint64(clock/step), 1); err != nil {
					t.Fatal(err)
				}
			}
			for _, u := range spent {
				if !s2.Spent(u) {
					t.Fatalf("boot %q: use %+v spendable again after damage at %d of %d bytes (floor %d, doubt %d, clock %d)\n%x",
						boot, u, int(at)%(len(data)+1), len(data), s2.marks[u.Step].floor, s2.doubt, clock, data)
				}
			}
		}
	})
}

// Damage that takes a step size's mark and a use it let in, found by a start whose clock is
// behind the run's: the marks of the other step sizes still show how far the clock had got, and
// every window up to then is refused (FuzzDamagedLog's clock is never behind at the start).
func TestDamageWithClockBehind(t *testing.T) {
	m := newMemFS()
	clock := int64(3180)
	now := func() time.Time { return time.Unix(clock, 0) }
	s := mustOpen(t, fuzzPath, Options{BootID: "b", storage: m, Now: now})
	s.Advance(30, 106, 1)
	s.Advance(60, 53, 1)
	u := Use{Key: fp(1), Step: 60, Window: 54}
	mustSpend(t, s, u)
	data, _ := m.ReadFile(fuzzPath)
	// H, R, M30, M60, U: damage M60 and U.
	if len(data) != 5*recSize {
		t.Fatalf("log of %d bytes, want 5 records", len(data))
	}
	for i := 3 * recSize; i < len(data); i++ {
		data[i] ^= 0x55
	}
	m.Replace(fuzzPath, data)
	clock = 2850 // the clock stepped back by more than five minutes
	s2 := mustOpen(t, fuzzPath, Options{BootID: "b", storage: m, Now: now})
	s2.Advance(30, uint64(clock/30), 1)
	s2.Advance(60, uint64(clock/60), 1)
	if !s2.Spent(u) {
		lo, _, _ := s2.Bounds(60)
		t.Fatalf("use %+v spendable again after its mark was damaged (floor %d)", u, lo)
	}
	// No more is refused than a lost run can have accepted: up to the latest window shown
	// (106 of step 30, that is 53 of step 60) plus skew.
	lo30, _, _ := s2.Bounds(30)
	lo60, _, _ := s2.Bounds(60)
	if lo30 != 108 || lo60 != 55 {
		t.Errorf("floors after the damage: %d (step 30), %d (step 60); want 108 and 55", lo30, lo60)
	}
}

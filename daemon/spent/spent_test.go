package spent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
)

func fp(b byte) psk.Fingerprint {
	var f psk.Fingerprint
	for i := range f {
		f[i] = b
	}
	return f
}

func use(key byte, window uint64, counter uint32) Use {
	return Use{Key: fp(key), Step: 30, Window: window, Counter: counter}
}

func mustOpen(t testing.TB, path string, o Options) *Store {
	t.Helper()
	s, err := OpenOptions(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSpend(t testing.TB, s *Store, u Use) {
	t.Helper()
	if ok, err := s.Spend(u); err != nil || !ok {
		t.Fatalf("Spend(%+v) = %v, %v; want true, nil", u, ok, err)
	}
}

func TestSpendOnceAndPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "spent.json")
	s := mustOpen(t, path, Options{BootID: "boot-a"})
	if err := s.Advance(30, 100, 1); err != nil {
		t.Fatal(err)
	}
	u := use(1, 100, 0)
	if s.Spent(u) {
		t.Fatal("fresh store says spent")
	}
	mustSpend(t, s, u)
	if ok, err := s.Spend(u); err != nil || ok {
		t.Fatalf("second Spend = %v, %v; want false, nil", ok, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted daemon, even in another boot, must still refuse the spent sequence, and only it.
	s2 := mustOpen(t, path, Options{BootID: "boot-b"})
	if !s2.Spent(u) {
		t.Fatal("spent use forgotten after reopen")
	}
	if s2.Spent(use(1, 100, 1)) || s2.Spent(use(2, 100, 0)) {
		t.Fatal("other counter or key reported spent after a clean stop")
	}
	if lo, hi, ok := s2.Bounds(30); !ok || lo != 99 || hi != 101 {
		t.Fatalf("Bounds after a clean stop = %d, %d, %v; want 99, 101, true", lo, hi, ok)
	}
}

// A clock that steps back, and a step size that is not advanced (its keys are not loaded right
// now), must never bring a spent or forgotten use back.
func TestFloorNeverLowers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spent.json")
	s := mustOpen(t, path, Options{BootID: "b"})
	s.Advance(30, 100, 1)
	s.Advance(60, 50, 1)
	old := use(1, 100, 0)
	mustSpend(t, s, old)
	other := Use{Key: fp(2), Step: 60, Window: 50}
	mustSpend(t, s, other)

	s.Advance(30, 105, 1)
	if s.Len() != 1 {
		t.Fatalf("after advancing step 30 past the use, %d uses remain, want 1 (the step-60 one)", s.Len())
	}
	if !s.Spent(old) {
		t.Fatal("forgotten use is not refused")
	}
	// The clock steps back an hour.
	if err := s.Advance(30, 100-20, 1); err != nil {
		t.Fatal(err)
	}
	if !s.Spent(old) {
		t.Fatal("use spendable again after the clock stepped back")
	}
	if ok, _ := s.Spend(old); ok {
		t.Fatal("Spend accepted a forgotten use after the clock stepped back")
	}
	if lo, _, _ := s.Bounds(30); lo != 104 {
		t.Fatalf("floor %d after the clock stepped back, want 104", lo)
	}
	s.Close()
	s2 := mustOpen(t, path, Options{BootID: "b"})
	if !s2.Spent(old) || !s2.Spent(other) {
		t.Fatal("floor or the step-60 use not persisted")
	}
}

// memFS is a file system whose writes reach the "disk" only on Sync or Replace, and whose
// writes can be made to fail, short or whole.
type memFS struct {
	mu    sync.Mutex // guards files, fail, short, gate
	files map[string]*memFile
	fail  error // next WriteAt fails with this...
	short int   // ...after writing this many bytes
	// gate, when set, holds Sync until the test receives from it: the disk is slow.
	gate chan struct{}
}

type memFile struct{ data, durable []byte }

func newMemFS() *memFS { return &memFS{files: map[string]*memFile{}} }

func (m *memFS) ReadFile(path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), f.data...), nil
}

func (m *memFS) Replace(path string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[path] = &memFile{data: append([]byte(nil), data...), durable: append([]byte(nil), data...)}
	return nil
}

func (m *memFS) OpenWrite(path string) (file, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[path]; !ok {
		return nil, fs.ErrNotExist
	}
	return &memHandle{fs: m, path: path}, nil
}

func (m *memFS) MoveAside(path string, now time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[path]
	if !ok {
		return "", fs.ErrNotExist
	}
	name := path + ".damaged"
	m.files[name] = f
	delete(m.files, path)
	return name, nil
}

// powerLoss drops everything not synced.
func (m *memFS) powerLoss() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files {
		f.data = append([]byte(nil), f.durable...)
	}
}

func (m *memFS) setFault(err error, short int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail, m.short = err, short
}

type memHandle struct {
	fs   *memFS
	path string
}

func (h *memHandle) WriteAt(b []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	f := h.fs.files[h.path]
	n, err := len(b), error(nil)
	if h.fs.fail != nil {
		n, err = h.fs.short, h.fs.fail
	}
	if end := int(off) + n; end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	copy(f.data[off:], b[:n])
	return n, err
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	gate := h.fs.gate
	h.fs.mu.Unlock()
	if gate != nil {
		gate <- struct{}{} // the test sees Sync start...
		gate <- struct{}{} // ...and lets it finish
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	f := h.fs.files[h.path]
	if h.fs.fail != nil {
		return h.fs.fail
	}
	f.durable = append([]byte(nil), f.data...)
	return nil
}

func (h *memHandle) Close() error { return nil }

// A use written but not synced is lost in a power cut; the next start, in a new boot, must
// refuse it anyway. A process crash in the same boot loses nothing and refuses nothing extra.
func TestPowerLossNeverReopensAUse(t *testing.T) {
	m := newMemFS()
	s := mustOpen(t, "spent", Options{BootID: "boot-1", storage: m})
	if err := s.Advance(30, 100, 1); err != nil {
		t.Fatal(err)
	}
	spentAhead := use(1, 101, 0) // a client whose clock runs one step ahead
	mustSpend(t, s, spentAhead)

	// kill -9: the page cache keeps the write.
	s2 := mustOpen(t, "spent", Options{BootID: "boot-1", storage: m})
	if !s2.Spent(spentAhead) {
		t.Fatal("use lost in a process crash")
	}
	if s2.Spent(use(1, 100, 0)) {
		t.Fatal("a process crash refused a window it need not")
	}

	// A power cut before the write reached the disk, and a reboot.
	s3 := mustOpen(t, "spent", Options{BootID: "boot-1", storage: m})
	mustSpend(t, s3, use(1, 100, 0))
	m.powerLoss()
	s4 := mustOpen(t, "spent", Options{BootID: "boot-2", storage: m})
	for _, u := range []Use{spentAhead, use(1, 100, 0)} {
		if !s4.Spent(u) {
			t.Fatalf("use %+v spendable again after a power cut", u)
		}
		if ok, _ := s4.Spend(u); ok {
			t.Fatalf("Spend(%+v) accepted after a power cut", u)
		}
	}
	// The refusal ends: the floor is high+skew+1, and a later window works.
	if lo, _, _ := s4.Bounds(30); lo != 102 {
		t.Fatalf("floor after a power cut = %d, want 102", lo)
	}
	s4.Advance(30, 103, 1)
	mustSpend(t, s4, use(1, 103, 0))
}

// A full disk refuses the use (the caller grants nothing), leaves no record that a start would
// read, and a later Spend works once there is space.
func TestFullDiskFailsClosedAndRecovers(t *testing.T) {
	m := newMemFS()
	s := mustOpen(t, "spent", Options{BootID: "b", storage: m})
	s.Advance(30, 100, 1)
	mustSpend(t, s, use(1, 100, 0))

	m.setFault(syscall.ENOSPC, 20) // a short write, then ENOSPC
	u := use(1, 100, 1)
	ok, err := s.Spend(u)
	if err == nil || ok || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Spend on a full disk = %v, %v; want false, ENOSPC", ok, err)
	}
	if s.Spent(u) {
		t.Fatal("a use that was not recorded counts as spent in memory")
	}
	// A crash now: the fragment is a torn tail, ignored; the earlier use survives.
	m.setFault(nil, 0)
	crashed := mustOpen(t, "spent", Options{BootID: "b", storage: m})
	if !crashed.Spent(use(1, 100, 0)) || crashed.Spent(u) {
		t.Fatal("a torn record changed what is spent")
	}

	// Space frees in the running store: the next Spend overwrites the fragment.
	mustSpend(t, s, u)
	mustSpend(t, s, use(1, 100, 2))
	s.Close()
	s2 := mustOpen(t, "spent", Options{BootID: "other", storage: m})
	for c := uint32(0); c < 3; c++ {
		if !s2.Spent(use(1, 100, c)) {
			t.Fatalf("counter %d not spent after recovery", c)
		}
	}
	if lo, _, _ := s2.Bounds(30); lo != 99 {
		t.Fatalf("a clean log was read as damaged: floor %d, want 99", lo)
	}
}

// A mark that cannot be recorded raises the floor (refusing more is safe) but not the ceiling, so
// no sequence is loaded that a lost mark would let a later start forget.
func TestAdvanceFailureKeepsCeiling(t *testing.T) {
	m := newMemFS()
	s := mustOpen(t, "spent", Options{BootID: "b", storage: m})
	s.Advance(30, 100, 1)
	m.setFault(syscall.EIO, 0)
	if err := s.Advance(30, 101, 1); err == nil {
		t.Fatal("Advance hid a write error")
	}
	if lo, hi, _ := s.Bounds(30); lo != 100 || hi != 101 {
		t.Fatalf("Bounds after a failed Advance = %d, %d; want 100, 101", lo, hi)
	}
	m.setFault(nil, 0)
	if err := s.Advance(30, 101, 1); err != nil {
		t.Fatal(err)
	}
	if _, hi, _ := s.Bounds(30); hi != 102 {
		t.Fatalf("ceiling %d after a repaired Advance, want 102", hi)
	}
}

func TestDamagedRecordDistrustsTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spent.json")
	s := mustOpen(t, path, Options{BootID: "b"})
	s.Advance(30, 100, 1)
	mustSpend(t, s, use(1, 100, 0))
	mustSpend(t, s, use(1, 100, 1))
	b, _ := os.ReadFile(path)
	// Flip a bit in the first use: not the last record, so damage, not a torn write.
	b[len(b)-2*recSize+10] ^= 1
	os.WriteFile(path, b, 0o600)
	s2 := mustOpen(t, path, Options{BootID: "b"})
	if !s2.Spent(use(1, 100, 0)) {
		t.Fatal("a damaged record's use became spendable")
	}
	if lo, _, _ := s2.Bounds(30); lo != 102 {
		t.Fatalf("floor after damage = %d, want 102 (high + skew + 1)", lo)
	}
}

func TestMigrateV1(t *testing.T) {
	now := time.Unix(3000, 0) // window 100 at step 30
	dir := t.TempDir()
	path := filepath.Join(dir, "spent.json")
	os.WriteFile(path, []byte(`{"version":1,"spent":[{"key":"abcd1234","window":100,"counter":0}]}`), 0o600)
	s := mustOpen(t, path, Options{BootID: "b", Now: func() time.Time { return now }})
	s.Advance(30, 100, 1)
	// The v1 use (any key, window 100) and everything the old run could accept is refused.
	for w := uint64(99); w <= 101; w++ {
		if !s.Spent(use(1, w, 0)) {
			t.Fatalf("window %d accepted after migrating a v1 file with live uses", w)
		}
	}
	if s.Spent(use(1, 102, 0)) {
		t.Fatal("migration refused a window the old run cannot have accepted")
	}
	s.Close()
	s2 := mustOpen(t, path, Options{BootID: "b"})
	s2.Advance(60, 50, 1) // another step size learns the migration time too
	if !s2.Spent(Use{Key: fp(1), Step: 60, Window: 51}) {
		t.Fatal("migration time not kept across restarts")
	}

	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"version":1,"spent":[]}`), 0o600)
	s3 := mustOpen(t, empty, Options{BootID: "b", Now: func() time.Time { return now }})
	s3.Advance(30, 100, 1)
	if s3.Spent(use(1, 100, 0)) {
		t.Fatal("an empty v1 file refused knocks")
	}
}

func TestCorruptStateNamesFile(t *testing.T) {
	for _, content := range []string{"{not json", "garbage that is not a log at all, long enough for one record"} {
		path := filepath.Join(t.TempDir(), "spent.json")
		os.WriteFile(path, []byte(content), 0o600)
		_, err := Open(path)
		if err == nil {
			t.Fatalf("corrupt state %q accepted", content)
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name %s", err, path)
		}
	}
}

func TestCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spent.json")
	s := mustOpen(t, path, Options{BootID: "b"})
	for w := uint64(100); w < 100+compactSlack/10; w++ {
		s.Advance(30, w, 1)
		for c := uint32(0); c < 10; c++ {
			mustSpend(t, s, use(1, w, c))
		}
	}
	fi, _ := os.Stat(path)
	if limit := int64(2*compactSlack+100) * recSize; fi.Size() > limit {
		t.Fatalf("log is %d bytes after compaction should have run, want at most %d", fi.Size(), limit)
	}
	last := 100 + uint64(compactSlack/10) - 1
	s2 := mustOpen(t, path, Options{BootID: "b"})
	if !s2.Spent(use(1, last, 9)) || !s2.Spent(use(1, last-1, 0)) {
		t.Fatal("compaction lost live uses")
	}
	if s2.Len() != 20 {
		t.Fatalf("%d uses after compaction, want the 20 of the two live windows", s2.Len())
	}
}

// TestKill9 spends a use in a child process, kills it with SIGKILL before it can close the store,
// and checks that the use is still spent.
func TestKill9(t *testing.T) {
	if path := os.Getenv("HYP_SPENT_CHILD"); path != "" {
		s, err := Open(path)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		s.Advance(30, 100, 1)
		if ok, err := s.Spend(use(1, 100, 0)); !ok || err != nil {
			fmt.Println("error", ok, err)
			os.Exit(1)
		}
		fmt.Println("spent")
		select {} // wait for SIGKILL
	}
	path := filepath.Join(t.TempDir(), "spent.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "HYP_SPENT_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "spent\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	s := mustOpen(t, path, Options{})
	if !s.Spent(use(1, 100, 0)) {
		t.Fatal("use lost when its process was killed")
	}
	if ok, _ := s.Spend(use(1, 100, 0)); ok {
		t.Fatal("use spent twice across kill -9")
	}
}

// BenchmarkSpend is one grant's append to the log on disk with n uses already remembered: the
// cost must not grow with n.
func BenchmarkSpend(b *testing.B) {
	for _, n := range []int{10, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("existing=%d", n), func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "spent.json"), Options{})
			s.Advance(30, 1000, 10)
			for i := 0; i < n; i++ {
				mustSpend(b, s, use(byte(i%250), 1000+uint64(i/250)%10, uint32(i)))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mustSpend(b, s, use(255, 1005, uint32(i)))
			}
		})
	}
}

// A crash in the middle of a write leaves a fragment at the end of the real file: it is ignored,
// and everything before it counts.
func TestTornTailOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spent.json")
	s := mustOpen(t, path, Options{BootID: "b"})
	s.Advance(30, 100, 1)
	mustSpend(t, s, use(1, 100, 0))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{recUse, 0, 0, 0, 0, 0, 0, 1, 1, 1}) // the first bytes of a use record
	f.Close()
	s2 := mustOpen(t, path, Options{BootID: "b"})
	if !s2.Spent(use(1, 100, 0)) {
		t.Fatal("use before a torn record lost")
	}
	if lo, _, _ := s2.Bounds(30); lo != 99 {
		t.Fatalf("a torn tail in the same boot raised the floor to %d, want 99", lo)
	}
	mustSpend(t, s2, use(1, 100, 1))
	s3 := mustOpen(t, path, Options{BootID: "b"})
	if !s3.Spent(use(1, 100, 1)) {
		t.Fatal("use written after a torn record lost")
	}
}

// Concurrent spends of the same use grant it once; run with -race.
func TestConcurrentSpendOnce(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "spent.json"), Options{BootID: "b"})
	s.Advance(30, 100, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards wins
	wins := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for c := uint32(0); c < 50; c++ {
				if ok, err := s.Spend(use(1, 100, c)); err == nil && ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
				s.Spent(use(1, 101, c))
				if c%10 == 0 {
					s.Advance(30, 100, 1)
				}
			}
		}(i)
	}
	wg.Wait()
	if wins != 50 {
		t.Fatalf("%d spends succeeded for 50 uses", wins)
	}
}

// A grant never waits for the disk: Spend completes while Advance's fsync is in progress.
func TestSpendDoesNotWaitForAdvanceSync(t *testing.T) {
	m := newMemFS()
	s := mustOpen(t, "spent", Options{BootID: "b", storage: m})
	s.Advance(30, 100, 1)
	gate := make(chan struct{})
	m.mu.Lock()
	m.gate = gate
	m.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.Advance(30, 101, 1) }()
	<-gate // Advance is inside Sync
	mustSpend(t, s, use(1, 101, 0))
	if _, hi, _ := s.Bounds(30); hi != 101 {
		t.Fatalf("ceiling %d before the mark is synced, want 101", hi)
	}
	<-gate // let Sync finish
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, hi, _ := s.Bounds(30); hi != 102 {
		t.Fatalf("ceiling %d after the mark is synced, want 102", hi)
	}
}

// A damaged log (issue #18: one byte of the header changed made hypd exit, and after a reboot
// nothing was protected) is moved aside and a new one started that refuses every window a lost
// run can have accepted: a knock spent before cannot be replayed, and the gateway starts.
func TestDamagedLogIsSetAsideAndDistrusted(t *testing.T) {
	m := newMemFS()
	now := time.Unix(1_795_000_000, 0)
	s := mustOpen(t, "spent", Options{BootID: "b", storage: m, Now: func() time.Time { return now }})
	u := Use{Step: 30, Window: uint64(now.Unix() / 30), Counter: 0}
	if err := s.Advance(30, u.Window, 1); err != nil {
		t.Fatal(err)
	}
	if fresh, err := s.Spend(u); !fresh || err != nil {
		t.Fatalf("Spend = %v, %v", fresh, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.files["spent"].data[9] ^= 0xff // one byte of the header's magic
	damaged := append([]byte(nil), m.files["spent"].data...)
	m.mu.Unlock()

	if _, err := OpenOptions("spent", Options{BootID: "b", storage: m}); err == nil || !strings.Contains(err.Error(), "not a spent-sequence log") {
		t.Fatalf("Open of a damaged log without SetAsideDamaged = %v; want a refusal", err)
	}
	s2, err := OpenOptions("spent", Options{BootID: "b", storage: m, SetAsideDamaged: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.SetAside() != "spent.damaged" {
		t.Errorf("SetAside = %q", s2.SetAside())
	}
	if b, _ := m.ReadFile("spent.damaged"); !bytes.Equal(b, damaged) {
		t.Error("the damaged log was not kept as it was")
	}
	if err := s2.Advance(30, u.Window, 1); err != nil {
		t.Fatal(err)
	}
	for w := u.Window - 1; w <= u.Window+1; w++ {
		if !s2.Spent(Use{Key: u.Key, Step: 30, Window: w, Counter: 3}) {
			t.Errorf("window %d (current %d) is acceptable after the log was lost", w, u.Window)
		}
	}
	if err := s2.Advance(30, u.Window+3, 1); err != nil {
		t.Fatal(err)
	}
	if s2.Spent(Use{Key: u.Key, Step: 30, Window: u.Window + 3}) {
		t.Error("windows after the doubt are still refused")
	}
}

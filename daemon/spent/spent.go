// Package spent remembers which knock sequences have been used, so that a sequence grants access
// once only, also across a restart of hypd, a crash, a clock that steps back, and a key file that
// is missing from one reload.
//
// A use is named by the key's 128-bit fingerprint, its step size, its time window and its use
// counter. Uses are forgotten only below a per-step floor that never goes down: the store keeps,
// per step size, the highest current window it has ever been told of (the high-water mark) and
// forgets uses older than high-water − skew. A use below the floor counts as spent, so a use that
// was forgotten can never be accepted again, whatever the clock says later.
//
// The state is an append-only log of fixed-size, checksummed records (docs/protocol.md, "One-time
// use", has the argument for crash safety): a grant appends one record with one write and does not
// wait for fsync. A write that fails leaves nothing behind that a later start would read as a use,
// and the next write goes to the same offset.
package spent

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// Use names one sequence: which key, which clock (step size), which time window, which counter.
type Use struct {
	Key     psk.Fingerprint
	Step    int64 // seconds per window: windows of different step sizes are different clocks
	Window  uint64
	Counter uint32
}

// mark is what the store knows of one step size's clock.
type mark struct {
	high  uint64 // highest current window recorded durably; sequences above high+skew are never loaded
	floor uint64 // lowest window that may still be accepted; never lowered
	skew  uint64 // skew in force when high was recorded
}

// Options tune Open. The zero value is what hypd uses.
type Options struct {
	// BootID names the running kernel; empty reads /proc/sys/kernel/random/boot_id. A start that
	// follows an unclean stop in the same boot lost nothing (the page cache survived the process);
	// after a reboot it may have lost the uses appended since the last fsync.
	BootID string
	// Now is the clock used to date a migration; nil is time.Now.
	Now func() time.Time

	// SetAsideDamaged moves a log that is not a spent-sequence log, or is not one this version
	// reads, aside (kept for the admin, see SetAside) and starts a new one that distrusts every
	// window up to now, as after a lost run: a damaged log must never keep the gateway from
	// starting, nor let a knock spent before it be replayed. Without it Open refuses such a log.
	SetAsideDamaged bool

	storage storage // nil: the real file system (tests inject faults here)
}

// Store is the set of spent sequences, persisted in one log file.
type Store struct {
	path string
	fs   storage

	// advance serialises Advance, which syncs outside mu: no compaction may replace the file
	// between a mark's write and its sync.
	advance sync.Mutex

	mu      sync.Mutex // guards everything below
	used    map[Use]struct{}
	marks   map[int64]mark
	doubt   int64 // unix time before which uses may have been accepted that the log lacks; 0: none
	f       file  // nil: memory only, or closed
	size    int64 // offset of the next record: the end of the last whole record
	records int   // records in the file, for deciding when to compact
	boot    [16]byte
	buf     [recSize]byte // scratch for one record, so Spend does not allocate
	closed  bool
	aside   string // where Open moved a damaged log; "" if it did not
}

// SetAside names where Open moved a damaged log (Options.SetAsideDamaged), or is "".
func (s *Store) SetAside() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aside
}

// Open loads the store from path, creating nothing until the first write. An empty path keeps
// the store in memory (for tests and for running without a state directory).
func Open(path string) (*Store, error) { return OpenOptions(path, Options{}) }

// OpenOptions is Open with options.
func OpenOptions(path string, o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.storage == nil {
		o.storage = osStorage{}
	}
	s := &Store{path: path, fs: o.storage, used: make(map[Use]struct{}), marks: make(map[int64]mark)}
	s.boot = bootID(o.BootID)
	if path == "" {
		return s, nil
	}
	data, err := s.fs.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A first start. (Deleting the file while uses are live reopens them: docs/protocol.md.)
	case err != nil:
		return nil, fmt.Errorf("reading spent-sequence state: %w", err)
	default:
		var lerr error
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
			lerr = s.migrateV1(data, o.Now())
		} else {
			lerr = s.load(data, o.Now())
		}
		if lerr != nil && !o.SetAsideDamaged {
			return nil, fmt.Errorf("reading spent-sequence state %s: %w (move the file away to start afresh)", path, lerr)
		}
		if lerr != nil {
			aside, err := s.fs.MoveAside(path, o.Now())
			if err != nil {
				return nil, fmt.Errorf("reading spent-sequence state %s: %w; moving it aside: %w", path, lerr, err)
			}
			// What the damaged log held is unknown: start over, refusing every window that a
			// previous run can have accepted (as migrateV1 does for a log it cannot map).
			s.used, s.marks = make(map[Use]struct{}), make(map[int64]mark)
			s.doubt, s.aside = o.Now().Unix(), aside
		}
	}
	// Start every run on a compact, durable file that names this boot: the torn tail of a crash
	// is gone, and a later start can tell whether this run's appends can have been lost.
	if err := s.compactLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// migrateV1 reads the version-1 JSON file. Its uses name keys by a 32-bit ID that cannot be
// mapped to fingerprints, so they are not carried over; instead every window that a previous run
// can have accepted before now is refused (the doubt time), which is at most skew+1 steps.
func (s *Store) migrateV1(data []byte, now time.Time) error {
	var f struct {
		Version int               `json:"version"`
		Spent   []json.RawMessage `json:"spent"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	if f.Version != 1 {
		return fmt.Errorf("unknown version %d", f.Version)
	}
	if len(f.Spent) > 0 {
		s.doubt = now.Unix()
	}
	return nil
}

// load reads a log. A fragment of a record at the end is the trace of an interrupted write and is
// ignored: the Spend it belonged to did not return success, so nothing was granted for it. A whole
// record that fails its checksum, wherever it is, is damage; the store then distrusts the clocks
// it knows (see unsure).
func (s *Store) load(data []byte, now time.Time) error {
	if len(data) < recSize || !validRecord(data[:recSize]) || data[0] != recHeader || !bytes.Equal(data[8:24], []byte(magic)) {
		return errors.New("not a spent-sequence log")
	}
	var lastBoot [16]byte
	clean, bootSeen, damaged := false, false, false
	n := len(data) / recSize
	for i := 1; i < n; i++ {
		r := data[i*recSize : (i+1)*recSize]
		if !validRecord(r) {
			// Whole records are written with one write, so only a fragment (dropped by n
			// above) can be torn; a whole record that fails its checksum, the last one too,
			// is damage, and may have been a use that returned success.
			damaged = true
			continue
		}
		clean = false
		switch r[0] {
		case recRun:
			copy(lastBoot[:], r[8:24])
			bootSeen = true
		case recUse:
			var u Use
			copy(u.Key[:], r[8:24])
			u.Counter = binary.BigEndian.Uint32(r[4:8])
			u.Step = int64(binary.BigEndian.Uint64(r[24:32]))
			u.Window = binary.BigEndian.Uint64(r[32:40])
			s.used[u] = struct{}{}
		case recMark:
			step := int64(binary.BigEndian.Uint64(r[24:32]))
			m := s.marks[step]
			m.high = max(m.high, binary.BigEndian.Uint64(r[32:40]))
			m.floor = max(m.floor, binary.BigEndian.Uint64(r[8:16]))
			m.skew = max(m.skew, binary.BigEndian.Uint64(r[16:24]))
			s.marks[step] = m
		case recDoubt:
			s.doubt = max(s.doubt, int64(binary.BigEndian.Uint64(r[32:40])))
		case recClean:
			clean = true
		}
	}
	if damaged || (!clean && (!bootSeen || lastBoot != s.boot)) {
		s.unsure()
	}
	if damaged {
		// The damage may have taken a mark with the uses it let in, which unsure cannot
		// know of: as after a migration, every window a run can have accepted before now is
		// refused, and before the latest time the rest of the log shows, should the clock now
		// be behind it (marks of all step sizes advance together).
		s.doubt = max(s.doubt, now.Unix(), s.latest())
	}
	for u := range s.used {
		if u.Window < s.marks[u.Step].floor {
			delete(s.used, u)
		}
	}
	return nil
}

// latest is the latest unix time the loaded marks show a run has reached: the last second of the
// highest current window each recorded. (Advance adds the skew when it turns this into a floor.)
func (s *Store) latest() int64 {
	var t int64
	for step, m := range s.marks {
		if step > 0 && m.high < uint64(math.MaxInt64/step)-1 {
			t = max(t, int64(m.high+1)*step-1)
		}
	}
	return t
}

// unsure raises every floor above what the lost run can have accepted. Sequences are loaded only
// up to high+skew, and high is recorded durably before they are (Advance), so any use the log
// lacks has a window of at most high+skew of its step.
func (s *Store) unsure() {
	for step, m := range s.marks {
		m.floor = max(m.floor, m.high+m.skew+1)
		s.marks[step] = m
	}
}

// Advance tells the store the current window of one step size and the skew in force. It raises
// the high-water mark (never lowers it: a clock that steps back changes nothing) and the floor to
// high−skew, forgets the uses below the floor, and records the mark durably. Call it before
// loading sequences of that step: Bounds' ceiling only rises once the mark is on disk.
//
// The fsync happens outside the lock that Spend takes, so grants do not wait for the disk.
func (s *Store) Advance(step int64, current uint64, skew int) error {
	if step <= 0 || skew < 0 {
		return fmt.Errorf("advancing spent-sequence state: step %d, skew %d out of range", step, skew)
	}
	s.advance.Lock()
	defer s.advance.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.marks[step]
	m := old
	sk := uint64(skew)
	high := max(old.high, current)
	if high >= sk {
		m.floor = max(m.floor, high-sk)
	}
	if s.doubt > 0 {
		m.floor = max(m.floor, uint64(s.doubt/step)+sk+1)
	}
	// The floor takes effect at once, durable or not: refusing more is always safe.
	s.marks[step] = mark{high: old.high, floor: m.floor, skew: old.skew}
	if m.floor > old.floor {
		for u := range s.used {
			if u.Step == step && u.Window < m.floor {
				delete(s.used, u)
			}
		}
	}
	m.high, m.skew = high, max(old.skew, sk)
	if m == old {
		return nil
	}
	if s.f != nil {
		s.encodeMark(step, m)
		if err := s.appendLocked(false); err != nil {
			return fmt.Errorf("recording the time window of step %ds: %w", step, err)
		}
		f := s.f
		s.mu.Unlock()
		err := f.Sync()
		s.mu.Lock()
		if err != nil {
			return fmt.Errorf("recording the time window of step %ds: %w", step, err)
		}
	}
	// Whatever happened meanwhile, the floor only rises.
	m.floor = max(m.floor, s.marks[step].floor)
	s.marks[step] = m
	if s.f != nil && s.records > 2*len(s.used)+2*len(s.marks)+compactSlack {
		if err := s.compactLocked(); err != nil {
			return err
		}
	}
	return nil
}

// Bounds returns the windows of a step size that may be accepted now: from floor to ceiling
// (high-water + skew). ok is false until Advance has recorded that step.
func (s *Store) Bounds(step int64) (floor, ceiling uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.marks[step]
	if !ok {
		return 0, 0, false
	}
	return m.floor, m.high + m.skew, true
}

// Spent reports whether u has been used or lies below its floor.
func (s *Store) Spent(u Use) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spentLocked(u)
}

func (s *Store) spentLocked(u Use) bool {
	if u.Window < s.marks[u.Step].floor {
		return true
	}
	_, ok := s.used[u]
	return ok
}

// Spend marks u used and writes it to the log before it returns, so that access is granted only
// after the use is recorded. It reports false if u was already spent (or is below its floor).
// On an error nothing is recorded and u stays unspent: the caller must not grant.
//
// The write is not followed by fsync: a use in the page cache survives the death of the process,
// and a start after a reboot that may have lost it refuses every window it could belong to.
func (s *Store) Spend(u Use) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errors.New("recording spent sequence: store closed")
	}
	if s.spentLocked(u) {
		return false, nil
	}
	if s.f != nil {
		s.encodeUse(u)
		if err := s.appendLocked(false); err != nil {
			return false, fmt.Errorf("recording spent sequence: %w", err)
		}
	}
	s.used[u] = struct{}{}
	return true, nil
}

// Len is the number of spent sequences remembered.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used)
}

// Close records a clean stop durably, so the next start trusts the log whatever boot it is in.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	s.encode(recClean)
	err := s.appendLocked(true)
	err = errors.Join(err, s.f.Close())
	s.f = nil
	if err != nil {
		return fmt.Errorf("closing spent-sequence state: %w", err)
	}
	return nil
}

// appendLocked writes s.buf at the end of the last whole record; with sync, it waits for the
// disk. A failed or short write leaves size where it was, so the next record overwrites the
// fragment (and a start reads a fragment at the end as a torn record).
func (s *Store) appendLocked(sync bool) error {
	if _, err := s.f.WriteAt(s.buf[:], s.size); err != nil {
		return err
	}
	if sync {
		if err := s.f.Sync(); err != nil {
			return err
		}
	}
	s.size += recSize
	s.records++
	return nil
}

// compactLocked rewrites the log from memory (atomically, fsynced) and reopens it for appending.
func (s *Store) compactLocked() error {
	if s.path == "" {
		return nil
	}
	recs := 3 + len(s.marks) + len(s.used)
	out := make([]byte, 0, recs*recSize)
	s.encode(recHeader)
	copy(s.buf[8:24], magic)
	s.seal()
	out = append(out, s.buf[:]...)
	s.encode(recRun)
	copy(s.buf[8:24], s.boot[:])
	s.seal()
	out = append(out, s.buf[:]...)
	if s.doubt > 0 {
		s.encode(recDoubt)
		binary.BigEndian.PutUint64(s.buf[32:40], uint64(s.doubt))
		s.seal()
		out = append(out, s.buf[:]...)
	}
	for step, m := range s.marks {
		s.encodeMark(step, m)
		out = append(out, s.buf[:]...)
	}
	for u := range s.used {
		s.encodeUse(u)
		out = append(out, s.buf[:]...)
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if err := s.fs.Replace(s.path, out); err != nil {
		return fmt.Errorf("compacting spent-sequence state: %w", err)
	}
	f, err := s.fs.OpenWrite(s.path)
	if err != nil {
		return fmt.Errorf("opening spent-sequence state: %w", err)
	}
	s.f, s.size, s.records = f, int64(len(out)), len(out)/recSize
	return nil
}

// The log is a sequence of recSize-byte records:
//
//	[0]      type
//	[1:4]    zero
//	[4:8]    counter (use)
//	[8:24]   key fingerprint (use), boot id (run), magic (header), floor and skew (mark)
//	[24:32]  step
//	[32:40]  window (use), high-water window (mark), unix time (doubt)
//	[40:44]  zero
//	[44:48]  CRC-32C of [0:44]
//
// all integers big-endian. The first record is the header.
const (
	recSize      = 48
	magic        = "hyp-spent-log-v2"
	compactSlack = 4096

	recHeader = 'H'
	recRun    = 'R' // a start, and the boot it happened in
	recUse    = 'U'
	recMark   = 'M' // a step size's high-water mark, floor and skew
	recDoubt  = 'D' // uses before this time may be missing (migration)
	recClean  = 'C' // a clean stop
)

// castagnoli is the CRC-32C table; crc32 builds it once and returns the same table after.
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

func (s *Store) encode(typ byte) {
	s.buf = [recSize]byte{}
	s.buf[0] = typ
	s.seal()
}

func (s *Store) seal() {
	binary.BigEndian.PutUint32(s.buf[44:48], crc32.Checksum(s.buf[:44], castagnoli()))
}

func (s *Store) encodeUse(u Use) {
	s.buf = [recSize]byte{}
	s.buf[0] = recUse
	binary.BigEndian.PutUint32(s.buf[4:8], u.Counter)
	copy(s.buf[8:24], u.Key[:])
	binary.BigEndian.PutUint64(s.buf[24:32], uint64(u.Step))
	binary.BigEndian.PutUint64(s.buf[32:40], u.Window)
	s.seal()
}

func (s *Store) encodeMark(step int64, m mark) {
	s.buf = [recSize]byte{}
	s.buf[0] = recMark
	binary.BigEndian.PutUint64(s.buf[8:16], m.floor)
	binary.BigEndian.PutUint64(s.buf[16:24], m.skew)
	binary.BigEndian.PutUint64(s.buf[24:32], uint64(step))
	binary.BigEndian.PutUint64(s.buf[32:40], m.high)
	s.seal()
}

func validRecord(r []byte) bool {
	return crc32.Checksum(r[:44], castagnoli()) == binary.BigEndian.Uint32(r[44:48])
}

// bootID hashes the kernel's boot id to 16 bytes; when there is none to read, a random value, so
// that no two runs look like the same boot.
func bootID(id string) [16]byte {
	if id == "" {
		if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
			id = string(bytes.TrimSpace(b))
		}
	}
	var out [16]byte
	if id == "" {
		rand.Read(out[:])
		return out
	}
	sum := sha256.Sum256([]byte("hyp/boot/" + id))
	copy(out[:], sum[:])
	return out
}

// file is what the store writes to; tests substitute faults.
type file interface {
	WriteAt(b []byte, off int64) (int, error)
	Sync() error
	Close() error
}

// storage is the file system as the store uses it.
type storage interface {
	ReadFile(path string) ([]byte, error)
	Replace(path string, data []byte) error
	OpenWrite(path string) (file, error)
	MoveAside(path string, now time.Time) (string, error)
}

type osStorage struct{}

func (osStorage) MoveAside(path string, now time.Time) (string, error) {
	return atomicfile.MoveAside(path, now)
}

func (osStorage) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }
func (osStorage) Replace(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	return atomicfile.Write(path, data, 0o600)
}
func (osStorage) OpenWrite(path string) (file, error) { return os.OpenFile(path, os.O_WRONLY, 0) }

// Package detector owns the in-kernel knock detector: the loaded bpf objects,
// their XDP links and the ring-buffer reader. The daemon hands it the whole
// set of valid sequences each time step (SetSequences, Update), marks a
// sequence spent the moment it opens (MarkSpent: it stays loaded until its
// window passes, so that a replay of it is reported), and reads one Record
// per completed sequence (Read). Per packet nothing runs in userspace.
//
// The program judges only datagrams to the gateway's own addresses; the
// detector keeps that set current over rtnetlink, and keeps the program
// attached to every configured interface, attaching again when one is deleted
// and re-created, so a reconnecting uplink never locks clients out.
//
// The kernel maps address sequences by slot id; this package allocates the
// ids, keeps the first-port index consistent, and validates every record
// against its own table, so a record for a sequence removed in the meantime
// is never reported.
package detector

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hideyourports/hyp/bpf"
)

// DefaultKnockTimeout is how long a whole sequence may take (docs/protocol.md 4).
const DefaultKnockTimeout = 5 * time.Second

// Sequence is one valid knock: the ports a client sends for (key, window,
// counter). KeyID is the daemon's index of the key; it is reported back in
// the Record. A Spent sequence opened once already: the kernel still follows
// it, so that a replay is reported (Record.Replay), until its window passes.
type Sequence struct {
	KeyID   uint32
	Window  uint64
	Counter uint32
	Ports   []uint16
	Spent   bool
}

// Record is one completed sequence, from Source. Replay says the kernel held
// the sequence as spent when it completed: a replay, reported at most once a
// second per sequence however often it is sent.
type Record struct {
	Source  netip.Addr
	KeyID   uint32
	Window  uint64
	Counter uint32
	Replay  bool
}

// Config says where to attach and how to size and tune the program.
type Config struct {
	// Interfaces to attach the XDP program to (Open only). One that does
	// not exist yet, or is deleted later, is attached to as soon as an
	// interface of that name appears.
	Interfaces []string
	// OnInterface, if set, hears of every change of a configured
	// interface after Open (deleted, re-created and attached again, an
	// attach that failed), so the daemon can log it. It is called from the
	// detector's watcher goroutine: it must not block or call Close.
	OnInterface func(InterfaceState)
	// LocalAddrs (Load only, for Program.Run) are the addresses the
	// program takes for the gateway's own; nil leaves the local-address
	// filter off, so every destination is judged. Open ignores it and
	// follows the namespace's addresses over rtnetlink instead.
	LocalAddrs []netip.Addr
	// UDPServices are UDP ports of real services: datagrams to them are
	// never knocks and always pass.
	UDPServices []uint16
	// KnockTimeout bounds the time from a sequence's first to last
	// datagram; 0 means DefaultKnockTimeout.
	KnockTimeout time.Duration
	// NetNS is an fd of the network namespace the interfaces live in;
	// 0 means the current one.
	NetNS int
	// MaxSequences is the number of sequence slots (0 = 65536). Size it
	// for keys x windows x uses plus one step's turnover.
	MaxSequences int
	// MaxSources is how many sources' progress is followed at once
	// (LRU; 0 = 65536).
	MaxSources int
	// RunStats turns on the kernel's BPF run-time statistics
	// (BPF_ENABLE_STATS) while the detector is open, for RunStats. It
	// costs two clock reads per packet for every BPF program.
	RunStats bool

	// eventBuf, for tests, sizes the receive buffer of the rtnetlink
	// event socket (0: 4 MiB), so that a test can make it overflow.
	eventBuf int
}

// Counters are the program's counters, summed over CPUs, plus Stale.
type Counters struct {
	Seen uint64 // UDP datagrams that could be knocks (all dropped)
	// Hits, Resets and Overflows follow sources' progress through
	// sequences, so they depend on the secret: never show them to anyone
	// who may not read the keys (docs/protocol.md, security).
	Hits         uint64 // datagrams that started or advanced a candidate
	Resets       uint64 // live progress that no candidate survived
	Completions  uint64 // sequences completed in the kernel and reported
	Overflows    uint64 // first-port lookups with more than bpf.K sequences
	RingbufDrops uint64 // completions lost because the ring buffer was full
	// ReplaysUnreported counts completions of spent sequences that were
	// not reported because one of the same sequence was, within a second.
	ReplaysUnreported uint64
	// Stale counts records Read discarded because their sequence had been
	// removed or replaced between completion and reading.
	Stale uint64
}

// InterfaceState is where a configured interface stands, as the kernel has it.
type InterfaceState struct {
	Name  string
	Index int // 0 while missing
	// Mode is "native" or "generic" (XDP mode of the attached program),
	// "missing" (no interface of that name: attached when it appears), or
	// "error: ..." (it exists but the program is not on it).
	Mode string
}

// Message says in one line what the state means for knocks, for a log.
func (s InterfaceState) Message() string {
	switch {
	case s.Mode == "native" || s.Mode == "generic":
		return fmt.Sprintf("interface %s (re)appeared: knock detector attached (%s XDP)", s.Name, s.Mode)
	case s.Mode == "missing":
		return fmt.Sprintf("interface %s is gone: knocks on it are not seen until it comes back", s.Name)
	default:
		return fmt.Sprintf("interface %s: knock detector not attached: %s", s.Name, strings.TrimPrefix(s.Mode, "error: "))
	}
}

// Attached says whether the program is on the interface.
func (s InterfaceState) Attached() bool { return s.Mode == "native" || s.Mode == "generic" }

// ErrClosed is returned by Read once the detector is closed.
var ErrClosed = errors.New("knock detector closed")

// ident is what makes a sequence unique. Its fields leave no padding, so
// maps keyed by it hash 16 plain bytes.
type ident struct {
	window  uint64
	key     uint32
	counter uint32
}

func newIdent(key uint32, window uint64, counter uint32) ident { return ident{window, key, counter} }

func (s *Sequence) ident() ident { return newIdent(s.KeyID, s.Window, s.Counter) }

// validate checks one input sequence; i is its index for the error.
func (s *Sequence) validate(i int) error {
	if n := len(s.Ports); n < 2 || n > bpf.MaxLen {
		return fmt.Errorf("sequence %d (key %d, window %d, counter %d): %d ports, want 2 to %d",
			i, s.KeyID, s.Window, s.Counter, n, bpf.MaxLen)
	}
	return nil
}

// Ref names one sequence without its ports: enough to remove it.
type Ref struct {
	KeyID   uint32
	Window  uint64
	Counter uint32
}

// kernel is where the table writes its state: the bpf maps, or a fake in
// tests. Each method writes a batch in order and returns how many entries
// it wrote before an error, so the table forgets or keeps exactly those.
type kernel interface {
	// writeSlots stores seqs[i] in slot ids[i] with gens[i] (and
	// seqs[i].Spent); a nil seq and gen 0 clear the slot.
	writeSlots(ids []uint32, seqs []*Sequence, gens []uint32) (int, error)
	// writeFirstPorts stores the first-port entry of each port: counts[i]
	// live sequences start there, ids[i] are the first (at most bpf.K).
	writeFirstPorts(ports []uint16, counts []uint32, ids [][]uint32) (int, error)
	// writeFirstPortBits stores words[i] of the bitmap of ports with a
	// non-empty first-port entry (word w covers ports 64w..64w+63).
	writeFirstPortBits(words []uint32, bits []uint64) (int, error)
	// markSpent sets the spent flag of the sequence in slot id, if the
	// slot still has generation gen, leaving its ports and gen as they are.
	markSpent(id, gen uint32) error
}

// slot is a loaded sequence as userspace remembers it: not its ports, which
// only the kernel needs, but their first (for the first-port index) and a
// hash that tells a changed sequence from an unchanged one. 32 bytes, where
// a copy of the ports would double it: a table for 100,000 keys has 500,000.
type slot struct {
	window  uint64
	sum     uint64
	key     uint32
	counter uint32
	gen     uint32 // 0 = free
	first   uint16
	spent   bool
}

func (s *slot) ident() ident { return ident{s.window, s.key, s.counter} }

// holds says whether the slot has seq as it is: its ports and whether it is spent.
func (s *slot) holds(seq *Sequence) bool {
	return s.sum == portsSum(seq.Ports) && s.spent == seq.Spent
}

// portsSum hashes a sequence's ports and their number (FNV-1a).
func portsSum(ports []uint16) uint64 {
	h := uint64(14695981039346656037)
	h = (h ^ uint64(len(ports))) * 1099511628211
	for _, p := range ports {
		h = (h ^ uint64(p)) * 1099511628211
	}
	return h
}

// table is userspace's view of the sequences in the kernel. It is not safe
// for concurrent use; the Detector guards it.
type table struct {
	slots   []slot
	byIdent map[ident]uint32
	// byPort lists, per first port, the live slot ids in the order they
	// were added: the first bpf.K are the ones the kernel sees. An array,
	// not a map: every port is a possible index, and a map that loses and
	// regains a third of its entries each step slows down.
	byPort *[1 << 16][]uint32
	// free is a FIFO of free slot ids. FIFO, not LIFO, so that a freed
	// slot is reused as late as possible: a program run that read the old
	// slot just before it was cleared is long over by then.
	free    []uint32
	freeAt  int // index of the head of free in the ring
	nFree   int
	lastGen uint32
	// dirty marks first ports whose kernel entry is not yet written (a
	// write failed); every change retries them. nDirty counts the bits.
	dirty  [1 << 10]uint64
	nDirty int
}

func newTable(n int) *table {
	t := &table{
		slots:   make([]slot, n),
		byIdent: make(map[ident]uint32),
		byPort:  new([1 << 16][]uint32),
		free:    make([]uint32, n),
		nFree:   n,
	}
	for i := range t.free {
		t.free[i] = uint32(i)
	}
	return t
}

func (t *table) alloc() uint32 {
	id := t.free[t.freeAt]
	t.freeAt = (t.freeAt + 1) % len(t.free)
	t.nFree--
	return id
}

func (t *table) release(id uint32) {
	t.free[(t.freeAt+t.nFree)%len(t.free)] = id
	t.nFree++
}

// unalloc gives back the n most recently allocated ids, newest first, so
// the FIFO is as it was before they were taken.
func (t *table) unalloc(n int) {
	t.freeAt = (t.freeAt - n%len(t.free) + len(t.free)) % len(t.free)
	t.nFree += n
}

func (t *table) nextGen() uint32 {
	t.lastGen++
	if t.lastGen == 0 {
		t.lastGen = 1
	}
	return t.lastGen
}

// set replaces the live set with seqs: it costs a pass over the whole set,
// for a start or a reload; a time step uses apply.
func (t *table) set(k kernel, seqs []Sequence) error {
	if t.len() == 0 && ascending(seqs) {
		// A start: nothing to diff against, and input in order has no duplicates, so no map
		// of the whole set is built; the index is sized once instead of growing.
		for i := range seqs {
			if err := seqs[i].validate(i); err != nil {
				return err
			}
		}
		t.byIdent = make(map[ident]uint32, len(seqs))
		return t.change(k, nil, seqs)
	}
	want := make(map[ident]int, len(seqs))
	for i := range seqs {
		if err := seqs[i].validate(i); err != nil {
			return err
		}
		id := seqs[i].ident()
		if j, dup := want[id]; dup {
			return fmt.Errorf("sequence %d (key %d, window %d, counter %d): duplicate of sequence %d",
				i, id.key, id.window, id.counter, j)
		}
		want[id] = i
	}
	var remove []ident
	var add []Sequence
	for id, slotID := range t.byIdent {
		if i, ok := want[id]; !ok || !t.slots[slotID].holds(&seqs[i]) {
			remove = append(remove, id)
		}
	}
	for i := range seqs {
		if slotID, ok := t.byIdent[seqs[i].ident()]; ok && t.slots[slotID].holds(&seqs[i]) {
			continue
		}
		add = append(add, seqs[i])
	}
	return t.change(k, remove, add)
}

// ascending reports whether seqs are in strictly ascending (key, window,
// counter) order, as the daemon builds a whole set.
func ascending(seqs []Sequence) bool {
	for i := 1; i < len(seqs); i++ {
		a, b := &seqs[i-1], &seqs[i]
		if a.KeyID > b.KeyID || (a.KeyID == b.KeyID && (a.Window > b.Window || (a.Window == b.Window && a.Counter >= b.Counter))) {
			return false
		}
	}
	return true
}

// apply removes the sequences named in remove (those not loaded are
// skipped) and adds those in add; an added sequence that is loaded already
// replaces the loaded one. Its cost is that of the change alone.
func (t *table) apply(k kernel, remove []Ref, add []Sequence) error {
	seen := make(map[ident]int, len(add))
	for i := range add {
		if err := add[i].validate(i); err != nil {
			return err
		}
		id := add[i].ident()
		if j, dup := seen[id]; dup {
			return fmt.Errorf("sequence %d (key %d, window %d, counter %d): duplicate of sequence %d",
				i, id.key, id.window, id.counter, j)
		}
		seen[id] = i
	}
	rm := make([]ident, 0, len(remove)+len(add))
	for _, r := range remove {
		rm = append(rm, newIdent(r.KeyID, r.Window, r.Counter))
	}
	for i := range add {
		rm = append(rm, add[i].ident())
	}
	return t.change(k, rm, add)
}

// change clears the slots of remove (idents not loaded are skipped), then
// writes add to fresh slots, then the first-port entries and bitmap words
// they touch. Removals take effect first, and a first-port entry or bitmap
// bit never leads to a slot not yet written. The input is valid and add has
// no idents that stay loaded.
func (t *table) change(k kernel, remove []ident, add []Sequence) error {
	var clear []uint32
	for _, id := range remove {
		if slotID, ok := t.byIdent[id]; ok && t.slots[slotID].gen != 0 {
			clear = append(clear, slotID)
		}
	}
	slices.Sort(clear)
	clear = slices.Compact(clear)
	if len(add) > t.nFree+len(clear) {
		return fmt.Errorf("loading %d sequences: %d slots free after removing %d, need %d (raise MaxSequences)",
			t.len()-len(clear)+len(add), t.nFree+len(clear), len(clear), len(add))
	}
	if err := t.clearSlots(k, clear); err != nil {
		return err
	}
	if err := t.addSlots(k, add); err != nil {
		return err
	}
	return t.flush(k)
}

// batch bounds one write to the kernel, so that a start with many keys
// does not build one buffer of every sequence.
const batch = 4096

// clearSlots empties slots in the kernel first, so the sequences are dead
// before anything else changes, then forgets them.
func (t *table) clearSlots(k kernel, ids []uint32) error {
	seqs := make([]*Sequence, min(len(ids), batch))
	gens := make([]uint32, len(seqs))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), batch)]
		ids = ids[len(chunk):]
		n, err := k.writeSlots(chunk, seqs[:len(chunk)], gens[:len(chunk)])
		for _, id := range chunk[:n] {
			t.forget(id)
		}
		if err != nil {
			s := &t.slots[chunk[n]]
			return fmt.Errorf("removing sequence (key %d, window %d, counter %d): %w", s.key, s.window, s.counter, err)
		}
	}
	return nil
}

func (t *table) forget(id uint32) {
	s := &t.slots[id]
	port := s.first
	ids := t.byPort[port]
	if i := slices.Index(ids, id); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		ids = nil
	}
	t.byPort[port] = ids
	t.markDirty(port)
	delete(t.byIdent, s.ident())
	*s = slot{}
	t.release(id)
}

// addSlots writes new sequences to fresh slots. Their first ports are only
// marked dirty: flush writes first-port entries after every slot they name.
func (t *table) addSlots(k kernel, add []Sequence) error {
	n := min(len(add), batch)
	ids := make([]uint32, n)
	seqs := make([]*Sequence, n)
	gens := make([]uint32, n)
	for len(add) > 0 {
		chunk := add[:min(len(add), batch)]
		add = add[len(chunk):]
		for i := range chunk {
			ids[i], seqs[i], gens[i] = t.alloc(), &chunk[i], t.nextGen()
		}
		done, err := k.writeSlots(ids[:len(chunk)], seqs[:len(chunk)], gens[:len(chunk)])
		for i := range chunk[:done] {
			t.record(ids[i], &chunk[i], gens[i])
		}
		if err != nil {
			t.unalloc(len(chunk) - done)
			seq := &chunk[done]
			return fmt.Errorf("adding sequence (key %d, window %d, counter %d): %w", seq.KeyID, seq.Window, seq.Counter, err)
		}
	}
	return nil
}

func (t *table) record(id uint32, seq *Sequence, gen uint32) {
	s := &t.slots[id]
	s.gen = gen
	s.window, s.key, s.counter = seq.Window, seq.KeyID, seq.Counter
	s.first, s.sum, s.spent = seq.Ports[0], portsSum(seq.Ports), seq.Spent
	t.byIdent[seq.ident()] = id
	port := seq.Ports[0]
	t.byPort[port] = append(t.byPort[port], id)
	t.markDirty(port)
}

func (t *table) markDirty(port uint16) {
	if t.dirty[port>>6]&(1<<(port&63)) == 0 {
		t.dirty[port>>6] |= 1 << (port & 63)
		t.nDirty++
	}
}

// markSpent flags one loaded sequence as spent in its slot, keeping its slot
// and generation: sources part-way through it keep their progress, and a
// record of it already in the ring buffer stays valid (the daemon refuses it
// from its spent store). Its first port is rewritten so that live sequences
// come before spent ones in the bpf.K the kernel follows. A sequence not
// loaded or already spent is left alone.
func (t *table) markSpent(k kernel, id ident) error {
	slotID, ok := t.byIdent[id]
	if !ok || t.slots[slotID].spent {
		return nil
	}
	s := &t.slots[slotID]
	// Userspace keeps only a hash of the ports, so the flag is set in the
	// kernel's own copy.
	if err := k.markSpent(slotID, s.gen); err != nil {
		return fmt.Errorf("marking sequence (key %d, window %d, counter %d) spent: %w", s.key, s.window, s.counter, err)
	}
	s.spent = true
	t.markDirty(s.first)
	return t.flush(k)
}

// remove deletes one sequence if it is loaded.
func (t *table) remove(k kernel, id ident) error {
	if _, ok := t.byIdent[id]; !ok {
		return nil
	}
	return t.change(k, []ident{id}, nil)
}

// flush writes the first-port entries of every dirty port, then the bitmap
// words that cover them.
func (t *table) flush(k kernel) error {
	if t.nDirty == 0 {
		return nil
	}
	ports := make([]uint16, 0, t.nDirty)
	for w, word := range t.dirty {
		for ; word != 0; word &= word - 1 {
			ports = append(ports, uint16(w<<6|bits.TrailingZeros64(word)))
		}
	}
	for rest := ports; len(rest) > 0; {
		chunk := rest[:min(len(rest), batch)]
		rest = rest[len(chunk):]
		counts := make([]uint32, len(chunk))
		ids := make([][]uint32, len(chunk))
		for i, p := range chunk {
			l := t.byPort[p]
			counts[i], ids[i] = uint32(len(l)), t.firstK(l)
		}
		if n, err := k.writeFirstPorts(chunk, counts, ids); err != nil {
			return fmt.Errorf("writing first port %d: %w", chunk[n], err)
		}
	}
	var words []uint32
	var set []uint64
	for i, p := range ports {
		word := p >> 6
		if i > 0 && ports[i-1]>>6 == word {
			continue
		}
		var b uint64
		for j := range uint16(64) {
			if len(t.byPort[word<<6|j]) > 0 {
				b |= 1 << j
			}
		}
		words, set = append(words, uint32(word)), append(set, b)
	}
	if n, err := k.writeFirstPortBits(words, set); err != nil {
		w := words[n]
		return fmt.Errorf("writing first-port bitmap for ports %d to %d: %w", w<<6, w<<6|63, err)
	}
	t.dirty, t.nDirty = [1 << 10]uint64{}, 0
	return nil
}

// firstK is what the kernel's first-port entry lists of the live slot ids l:
// at most bpf.K, those not spent first, each group in the order it was added.
// A port shared by more than bpf.K sequences then never lets a spent one
// crowd out one that can still open.
func (t *table) firstK(l []uint32) []uint32 {
	n := min(len(l), bpf.K)
	spent := false
	for _, id := range l {
		spent = spent || t.slots[id].spent
	}
	if !spent {
		return l[:n]
	}
	out := make([]uint32, 0, n)
	for _, want := range []bool{false, true} {
		for _, id := range l {
			if len(out) < n && t.slots[id].spent == want {
				out = append(out, id)
			}
		}
	}
	return out
}

// lookup returns the sequence in slot id if its generation is gen.
func (t *table) lookup(id, gen uint32) (Sequence, bool) {
	if int(id) >= len(t.slots) || gen == 0 || t.slots[id].gen != gen {
		return Sequence{}, false
	}
	s := &t.slots[id]
	return Sequence{KeyID: s.key, Window: s.window, Counter: s.counter, Spent: s.spent}, true
}

// len is the number of live sequences.
func (t *table) len() int { return len(t.byIdent) }

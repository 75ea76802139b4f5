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
// ids, keeps the indexes consistent (port sequences by their first two ports,
// tagged sequences by every tag), and validates every record against its own
// table, so a record for a sequence removed in the meantime is never
// reported.
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
//
// Tags, when set (scheme v3, sequence.Candidate.Tags), are the payloads of
// the datagrams, one per port: datagram i carries the 8 bytes of Tags[i],
// big-endian. A tagged sequence has 1 to bpf.MaxTagLen datagrams, a port
// sequence (Tags nil) 2 to bpf.MaxLen.
type Sequence struct {
	KeyID   uint32
	Window  uint64
	Counter uint32
	Ports   []uint16
	Tags    []uint64
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
	// MaxTags bounds the tags of loaded tagged (v3) sequences: one per
	// datagram (0 = twice MaxSequences, enough for v3's default length 2).
	MaxTags int
	// RunStats turns on the kernel's BPF run-time statistics
	// (BPF_ENABLE_STATS) while the detector is open, for RunStats. It
	// costs two clock reads per packet for every BPF program.
	RunStats bool

	// eventBuf, for tests, sizes the receive buffer of the rtnetlink
	// event socket (0: 4 MiB), so that a test can make it overflow.
	eventBuf int
	// replyNow, for tests, turns the reply prefilter on as soon as the
	// egress program is attached, without the warm-up of one reply window.
	replyNow bool
	// replyWarmup, for tests, skips stamping conntrack's flows at attach,
	// as where its table cannot be read: the prefilter waits a reply window.
	replyWarmup bool
	// noInline, for tests, keeps LocalAddrs out of the settings: the
	// program then finds them in the map alone, as with more than
	// bpf.LocalInline addresses.
	noInline bool
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
	Overflows    uint64 // first-two-port lookups with more than bpf.K sequences
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
	if s.Tags != nil {
		if n := len(s.Ports); n < 1 || n > bpf.MaxTagLen || len(s.Tags) != n {
			return fmt.Errorf("sequence %d (key %d, window %d, counter %d): %d ports and %d tags, want 1 to %d of each",
				i, s.KeyID, s.Window, s.Counter, n, len(s.Tags), bpf.MaxTagLen)
		}
		return nil
	}
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
	// writePairs stores the entry of each pair key (first << 16 | second
	// port): counts[i] live port sequences start there, ids[i] are the
	// first (at most bpf.K). A count of 0 deletes the entry.
	writePairs(keys []uint32, counts []uint32, ids [][]uint32) (int, error)
	// writeFirstPortBits stores words[i] of the bitmap of ports where a
	// port sequence starts (word w covers ports 64w..64w+63).
	writeFirstPortBits(words []uint32, bits []uint64) (int, error)
	// writePairFilter stores the pair filter word of each first port:
	// bit bpf.PairBit(second) for every live port sequence's second port.
	writePairFilter(ports []uint32, words []uint64) (int, error)
	// writeTags stores the tags of tagged sequences.
	writeTags(tags []tagEntry) (int, error)
	// deleteTags removes tags; one not there is not an error.
	deleteTags(tags []uint64) (int, error)
	// setKinds says which kinds of sequence are loaded, so that the
	// program skips the work of a kind that is not.
	setKinds(port, tagged bool) error
	// markSpent sets the spent flag of the sequence in slot id, if the
	// slot still has generation gen, leaving its ports and gen as they are.
	markSpent(id, gen uint32) error
}

// tagEntry is one tag of a tagged sequence: the program finds the sequence by
// it, at position pos of len.
type tagEntry struct {
	tag     uint64
	id, gen uint32
	port    uint16
	pos     uint8
	len     uint8
}

// slot is a loaded sequence as userspace remembers it: not its ports, which
// only the kernel needs, but their first two (for the pair index) and a hash
// that tells a changed sequence from an unchanged one. 40 bytes, where a copy
// of the ports would double it: a table for 100,000 keys has 500,000.
type slot struct {
	window  uint64
	sum     uint64
	key     uint32
	counter uint32
	gen     uint32 // 0 = free
	first   uint16
	second  uint16
	spent   bool
	tagged  bool
	ntags   uint8 // a tagged slot's number of tags
	// tagsOut: some of a tagged slot's tags are not in the kernel (a write
	// failed), so a whole set replaces the slot.
	tagsOut bool
}

func (s *slot) ident() ident { return ident{s.window, s.key, s.counter} }

// holds says whether the slot has seq as it is: its ports (and tags), and
// spent if seq is. Spent is one-way: a set that says not spent does not undo
// MarkSpent, because a set computed before a knock opened (the daemon's
// time step racing its grant path) would otherwise make the sequence
// openable again until the daemon refused it in userspace.
func (s *slot) holds(seq *Sequence) bool {
	return s.sum == seqSum(seq) && (s.spent || !seq.Spent) && !s.tagsOut
}

// seqSum hashes a sequence's ports, their number and its tags (FNV-1a).
func seqSum(seq *Sequence) uint64 {
	h := portsSum(seq.Ports)
	for _, t := range seq.Tags {
		h = (h ^ t) * 1099511628211
	}
	return h
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

// portRef is a live port sequence in table.byPort: its slot and its second port.
type portRef struct {
	id     uint32
	second uint16
}

func pairKey(first, second uint16) uint32 { return uint32(first)<<16 | uint32(second) }

// table is userspace's view of the sequences in the kernel. It is not safe
// for concurrent use; the Detector guards it.
type table struct {
	slots []slot
	// heads holds, per key id, its most recently recorded live slot + 1
	// (0: none); next[id] is the key's live slot recorded before slot id,
	// + 1. A key has a handful of live sequences (windows x uses), so its
	// chain is short; and unlike a map of every sequence, a third of whose
	// entries a time step deletes and adds again (which slows Go's maps
	// down, and costs 20 bytes a sequence), the keys stay put. heads is
	// indexed by key id below len(slots), which holds every id the daemon
	// gives (it numbers its keys from 1, and has fewer keys than slots);
	// byKey has the others.
	heads []uint32
	byKey map[uint32]uint32
	next  []uint32
	nLive int
	// byPort lists, per first port, the live port-sequence slot ids in the
	// order they were added; a pair's kernel entry lists the first bpf.K
	// of those with its second port. An array, not a map: every port is a
	// possible index, and a map that loses and regains a third of its
	// entries each step slows down.
	//
	// Each entry carries the sequence's second port: flush finds a pair's
	// sequences in the list alone, without a cache miss on every slot.
	byPort *[1 << 16][]portRef
	// tags holds the tags of each tagged slot of up to two datagrams (v3's
	// default length), to delete them with it; longer ones are in
	// longTags. Nil until the first tagged sequence. Flat, not a slice per
	// slot: no allocation per sequence at every step, and nothing for the
	// garbage collector to scan.
	tags     [][2]uint64
	longTags map[uint32][]uint64
	// staleTags are tags of removed sequences whose delete failed: retried
	// with every change (they name a slot generation that is gone, so the
	// program ignores them meanwhile).
	staleTags []uint64
	// free is a FIFO of free slot ids. FIFO, not LIFO, so that a freed
	// slot is reused as late as possible: a program run that read the old
	// slot just before it was cleared is long over by then.
	free    []uint32
	freeAt  int // index of the head of free in the ring
	nFree   int
	lastGen uint32
	// tagBuf is addSlots' scratch.
	tagBuf []tagEntry
	// pairBuf is flush's scratch.
	pairBuf struct {
		ids, counts, flat []uint32
		lists             [][]uint32
	}
	// marks is apply's scratch bitmap of slots being removed, one bit a
	// slot, all clear between calls.
	marks []uint64
	// nPort and nTagged count live slots of each kind; kinds is what the
	// kernel was last told (bit 0 port, bit 1 tagged), -1 before.
	nPort, nTagged int
	kinds          int
	// dirty marks first ports whose bitmap word is not yet written, and
	// dirtyPairs the pairs whose entry is not (a write failed, or not yet
	// flushed); every change retries them. nDirty counts the bits.
	dirty  [1 << 10]uint64
	nDirty int
	// bits is the first-port bitmap as the kernel holds it (all clear in a
	// fresh map): flush writes only the words that change. With 100,000
	// keys nearly every port starts some sequence, so a time step, which
	// dirties most words, changes almost none.
	bits [1 << 10]uint64
	// filter is the pair filter as the kernel holds it, per first port;
	// flush recomputes the dirty ports' words and writes those that change.
	// A pointer: 512 KiB.
	filter *[1 << 16]uint64
	// dirtyPairs may hold a pair more than once: a slice, sorted and
	// compacted by flush, is cheaper than a set for 200,000 a step.
	dirtyPairs []uint32
}

func newTable(n int) *table {
	t := &table{
		slots:  make([]slot, n),
		heads:  make([]uint32, n),
		byKey:  make(map[uint32]uint32),
		next:   make([]uint32, n),
		byPort: new([1 << 16][]portRef),
		filter: new([1 << 16]uint64),
		free:   make([]uint32, n),
		nFree:  n,
		kinds:  -1,
	}
	for i := range t.free {
		t.free[i] = uint32(i)
	}
	return t
}

// head is the first of key's chain of live slots, + 1 (0: none).
func (t *table) head(key uint32) uint32 {
	if key < uint32(len(t.heads)) {
		return t.heads[key]
	}
	return t.byKey[key]
}

func (t *table) setHead(key, s uint32) {
	switch {
	case key < uint32(len(t.heads)):
		t.heads[key] = s
	case s == 0:
		delete(t.byKey, key)
	default:
		t.byKey[key] = s
	}
}

// find returns the slot of the live sequence id.
func (t *table) find(id ident) (uint32, bool) {
	for s := t.head(id.key); s != 0; s = t.next[s-1] {
		if sl := &t.slots[s-1]; sl.window == id.window && sl.counter == id.counter {
			return s - 1, true
		}
	}
	return 0, false
}

// link puts slot id, just recorded for key, in its key's chain.
func (t *table) link(id, key uint32) {
	t.next[id] = t.head(key)
	t.setHead(key, id+1)
	t.nLive++
}

// unlink takes slot id out of its key's chain.
func (t *table) unlink(id uint32) {
	key := t.slots[id].key
	if head := t.head(key); head == id+1 {
		t.setHead(key, t.next[id])
	} else {
		for s := head; s != 0; s = t.next[s-1] {
			if t.next[s-1] == id+1 {
				t.next[s-1] = t.next[id]
				break
			}
		}
	}
	t.next[id] = 0
	t.nLive--
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
// for a start or a reload; a time step uses apply. A loaded sequence that is
// spent stays spent whatever seqs says (slot.holds).
func (t *table) set(k kernel, seqs []Sequence) error {
	if t.len() == 0 && ascending(seqs) {
		// A start: nothing to diff against, and input in order has no duplicates, so no map
		// of the whole set is built; the index is sized once instead of growing.
		for i := range seqs {
			if err := seqs[i].validate(i); err != nil {
				return err
			}
		}
		keys := 0
		for i := range seqs {
			if seqs[i].KeyID >= uint32(len(t.heads)) && (i == 0 || seqs[i].KeyID != seqs[i-1].KeyID) {
				keys++
			}
		}
		t.byKey = make(map[uint32]uint32, keys)
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
	for slotID := range t.slots {
		s := &t.slots[slotID]
		if s.gen == 0 {
			continue
		}
		id := s.ident()
		if i, ok := want[id]; !ok || !s.holds(&seqs[i]) {
			remove = append(remove, id)
		}
	}
	for i := range seqs {
		if slotID, ok := t.find(seqs[i].ident()); ok && t.slots[slotID].holds(&seqs[i]) {
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
// replaces the loaded one, unless the loaded one holds it (slot.holds: the
// same ports and tags, and spent stays spent). Its cost is that of the
// change alone.
func (t *table) apply(k kernel, remove []Ref, add []Sequence) error {
	for i := range add {
		if err := add[i].validate(i); err != nil {
			return err
		}
	}
	// The daemon adds in (key, window, counter) order, where a duplicate
	// would sit next to its twin: no map of the whole change is needed.
	if !ascending(add) {
		seen := make(map[ident]int, len(add))
		for i := range add {
			id := add[i].ident()
			if j, dup := seen[id]; dup {
				return fmt.Errorf("sequence %d (key %d, window %d, counter %d): duplicate of sequence %d",
					i, id.key, id.window, id.counter, j)
			}
			seen[id] = i
		}
	}
	// The slots to clear, found once each; marked, so that an added
	// sequence that is also removed is known by its slot.
	if t.marks == nil {
		t.marks = make([]uint64, (len(t.slots)+63)/64)
	}
	clear := make([]uint32, 0, len(remove)+len(add))
	for _, r := range remove {
		if slotID, ok := t.find(newIdent(r.KeyID, r.Window, r.Counter)); ok && t.marks[slotID/64]&(1<<(slotID%64)) == 0 {
			t.marks[slotID/64] |= 1 << (slotID % 64)
			clear = append(clear, slotID)
		}
	}
	// An added sequence loaded as it is stays (and stays spent); one
	// loaded otherwise is replaced. One index lookup per added sequence:
	// only those loaded go to change as removals.
	var fresh []Sequence
	for i := range add {
		slotID, ok := t.find(add[i].ident())
		removed := ok && t.marks[slotID/64]&(1<<(slotID%64)) != 0
		keep := ok && !removed && t.slots[slotID].holds(&add[i])
		if keep && fresh == nil {
			// Copy, not filter in place: add is the caller's.
			fresh = append(make([]Sequence, 0, len(add)), add[:i]...)
		}
		if keep {
			continue
		}
		if ok && !removed {
			clear = append(clear, slotID)
		}
		if fresh != nil {
			fresh = append(fresh, add[i])
		}
	}
	for _, slotID := range clear {
		t.marks[slotID/64] = 0
	}
	if fresh != nil {
		add = fresh
	}
	return t.changeSlots(k, clear, add)
}

// change clears the slots of remove (idents not loaded are skipped), then
// writes add to fresh slots, then the tags, pair entries and bitmap words
// they touch. Removals take effect first, and no tag, pair entry or bitmap
// bit ever leads to a slot not yet written. The input is valid and add has
// no idents that stay loaded.
func (t *table) change(k kernel, remove []ident, add []Sequence) error {
	var clear []uint32
	for _, id := range remove {
		if slotID, ok := t.find(id); ok {
			clear = append(clear, slotID)
		}
	}
	return t.changeSlots(k, clear, add)
}

// changeSlots is change with the slots to clear found (live ones; clear is
// the caller's, sorted in place).
func (t *table) changeSlots(k kernel, clear []uint32, add []Sequence) error {
	slices.Sort(clear)
	clear = slices.Compact(clear)
	if len(add) > t.nFree+len(clear) {
		return fmt.Errorf("loading %d sequences: %d slots free after removing %d, need %d (raise MaxSequences)",
			t.len()-len(clear)+len(add), t.nFree+len(clear), len(clear), len(add))
	}
	// A kind is switched on before its sequences arrive and off after the
	// last is gone, so the program never skips a loaded sequence.
	port, tagged := t.nPort > 0, t.nTagged > 0
	for i := range add {
		if add[i].Tags != nil {
			tagged = true
		} else {
			port = true
		}
	}
	if err := t.tellKinds(k, port, tagged); err != nil {
		return err
	}
	if err := t.clearSlots(k, clear); err != nil {
		return err
	}
	if err := t.addSlots(k, add); err != nil {
		return err
	}
	if err := t.flush(k); err != nil {
		return err
	}
	return t.tellKinds(k, t.nPort > 0, t.nTagged > 0)
}

func (t *table) tellKinds(k kernel, port, tagged bool) error {
	kinds := 0
	if port {
		kinds |= 1
	}
	if tagged {
		kinds |= 2
	}
	if kinds == t.kinds {
		return nil
	}
	if err := k.setKinds(port, tagged); err != nil {
		return fmt.Errorf("telling the knock program which sequences are loaded: %w", err)
	}
	t.kinds = kinds
	return nil
}

// batch bounds one write to the kernel, so that a start with many keys
// does not build one buffer of every sequence.
const batch = 4096

// clearSlots empties slots in the kernel first, so the sequences are dead
// before anything else changes, then forgets them and deletes their tags.
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
	return t.dropStaleTags(k)
}

// dropStaleTags deletes the tags of removed sequences from the kernel.
func (t *table) dropStaleTags(k kernel) error {
	all := t.staleTags
	for len(t.staleTags) > 0 {
		chunk := t.staleTags[:min(len(t.staleTags), batch)]
		n, err := k.deleteTags(chunk)
		t.staleTags = t.staleTags[n:]
		if err != nil {
			return fmt.Errorf("removing %d tags of removed sequences: %w", len(t.staleTags), err)
		}
	}
	t.staleTags = all[:0] // kept for the next removal: a step removes in hundreds of chunks
	return nil
}

func (t *table) forget(id uint32) {
	s := &t.slots[id]
	if s.tagged {
		if s.ntags <= 2 {
			t.staleTags = append(t.staleTags, t.tags[id][:s.ntags]...)
			t.tags[id] = [2]uint64{}
		} else {
			t.staleTags = append(t.staleTags, t.longTags[id]...)
			delete(t.longTags, id)
		}
		t.nTagged--
	} else {
		port := s.first
		ids := t.byPort[port]
		if i := slices.Index(ids, portRef{id, s.second}); i >= 0 {
			ids = slices.Delete(ids, i, i+1)
		}
		if len(ids) == 0 {
			ids = nil
		}
		t.byPort[port] = ids
		t.markDirty(port, s.second)
		t.nPort--
	}
	t.unlink(id)
	*s = slot{}
	t.release(id)
}

// addSlots writes new sequences to fresh slots, then the tags of each batch.
// Pair entries and bitmap words are only marked dirty: flush writes them
// after every slot they name.
func (t *table) addSlots(k kernel, add []Sequence) error {
	n := min(len(add), batch)
	ids := make([]uint32, n)
	seqs := make([]*Sequence, n)
	gens := make([]uint32, n)
	tags := t.tagBuf[:0]
	defer func() { t.tagBuf = tags[:0] }()
	for len(add) > 0 {
		chunk := add[:min(len(add), batch)]
		add = add[len(chunk):]
		for i := range chunk {
			ids[i], seqs[i], gens[i] = t.alloc(), &chunk[i], t.nextGen()
		}
		done, err := k.writeSlots(ids[:len(chunk)], seqs[:len(chunk)], gens[:len(chunk)])
		tags = tags[:0]
		for i := range chunk[:done] {
			t.record(ids[i], &chunk[i], gens[i])
			for j, tag := range chunk[i].Tags {
				tags = append(tags, tagEntry{tag: tag, id: ids[i], gen: gens[i], port: chunk[i].Ports[j],
					pos: uint8(j), len: uint8(len(chunk[i].Tags))})
			}
		}
		if err != nil {
			t.unalloc(len(chunk) - done)
			seq := &chunk[done]
			return fmt.Errorf("adding sequence (key %d, window %d, counter %d): %w", seq.KeyID, seq.Window, seq.Counter, err)
		}
		if err := t.writeTags(k, tags); err != nil {
			return err
		}
	}
	return nil
}

// writeTags writes tags; on failure the slots of those not written are
// marked, so that a whole set replaces them.
func (t *table) writeTags(k kernel, tags []tagEntry) error {
	for rest := tags; len(rest) > 0; {
		chunk := rest[:min(len(rest), batch)]
		rest = rest[len(chunk):]
		n, err := k.writeTags(chunk)
		if err != nil {
			for _, e := range chunk[n:] {
				t.slots[e.id].tagsOut = true
			}
			for _, e := range rest {
				t.slots[e.id].tagsOut = true
			}
			return fmt.Errorf("adding %d tags (raise MaxTags if the map is full): %w", len(chunk)-n+len(rest), err)
		}
	}
	return nil
}

func (t *table) record(id uint32, seq *Sequence, gen uint32) {
	s := &t.slots[id]
	s.gen = gen
	s.window, s.key, s.counter = seq.Window, seq.KeyID, seq.Counter
	s.first, s.sum, s.spent = seq.Ports[0], seqSum(seq), seq.Spent
	t.link(id, seq.KeyID)
	if seq.Tags != nil {
		s.tagged = true
		s.ntags = uint8(len(seq.Tags))
		if t.tags == nil {
			t.tags = make([][2]uint64, len(t.slots))
			t.longTags = make(map[uint32][]uint64)
		}
		if len(seq.Tags) <= 2 {
			copy(t.tags[id][:], seq.Tags)
		} else {
			t.longTags[id] = slices.Clone(seq.Tags)
		}
		t.nTagged++
		return
	}
	s.second = seq.Ports[1]
	port := seq.Ports[0]
	t.byPort[port] = append(t.byPort[port], portRef{id, s.second})
	t.markDirty(port, s.second)
	t.nPort++
}

func (t *table) markDirty(first, second uint16) {
	if t.dirty[first>>6]&(1<<(first&63)) == 0 {
		t.dirty[first>>6] |= 1 << (first & 63)
		t.nDirty++
	}
	t.dirtyPairs = append(t.dirtyPairs, pairKey(first, second))
}

// markSpent flags one loaded sequence as spent in its slot, keeping its slot
// and generation: sources part-way through it keep their progress, and a
// record of it already in the ring buffer stays valid (the daemon refuses it
// from its spent store). A port sequence's pair entry is rewritten so that
// live sequences come before spent ones in the bpf.K the kernel follows. A
// sequence not loaded or already spent is left alone.
func (t *table) markSpent(k kernel, id ident) error {
	slotID, ok := t.find(id)
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
	if !s.tagged {
		t.markDirty(s.first, s.second)
	}
	return t.flush(k)
}

// remove deletes one sequence if it is loaded.
func (t *table) remove(k kernel, id ident) error {
	if _, ok := t.find(id); !ok {
		return nil
	}
	return t.change(k, []ident{id}, nil)
}

// flush writes the entries of every dirty pair (deleting those no sequence
// starts with any more), then the bitmap words that cover the dirty ports.
func (t *table) flush(k kernel) error {
	if len(t.dirtyPairs) > 0 {
		slices.Sort(t.dirtyPairs)
		t.dirtyPairs = slices.Compact(t.dirtyPairs)
		// Buffers kept from flush to flush: a time step flushes
		// hundreds of times, and they were most of its garbage.
		n := min(len(t.dirtyPairs), batch)
		if cap(t.pairBuf.counts) < n {
			t.pairBuf.counts = make([]uint32, n)
			t.pairBuf.lists = make([][]uint32, n)
			t.pairBuf.flat = make([]uint32, 0, n*bpf.K)
		}
		ids, counts, lists, flat := t.pairBuf.ids, t.pairBuf.counts[:n], t.pairBuf.lists[:n], t.pairBuf.flat
		defer func() { t.pairBuf.ids = ids }()
		for len(t.dirtyPairs) > 0 {
			chunk := t.dirtyPairs[:min(len(t.dirtyPairs), batch)]
			flat = flat[:0]
			for i, key := range chunk {
				first, second := uint16(key>>16), uint16(key)
				ids = ids[:0]
				for _, r := range t.byPort[first] {
					if r.second == second {
						ids = append(ids, r.id)
					}
				}
				at := len(flat)
				flat = t.appendFirstK(flat, ids)
				counts[i], lists[i] = uint32(len(ids)), flat[at:]
			}
			done, err := k.writePairs(chunk, counts[:len(chunk)], lists[:len(chunk)])
			t.dirtyPairs = t.dirtyPairs[done:]
			if err != nil {
				return fmt.Errorf("writing %d pairs of first ports: %w", len(chunk)-done, err) // never the ports: a log reader would learn two of a live sequence
			}
		}
		t.dirtyPairs = t.dirtyPairs[:0]
	}
	if t.nDirty == 0 {
		return nil
	}
	var words []uint32
	var set []uint64
	var fports []uint32
	var fwords []uint64
	for w, word := range t.dirty {
		if word == 0 {
			continue
		}
		// Only the dirty ports' bits can have changed.
		b := t.bits[w]
		for word != 0 {
			j := uint16(bits.TrailingZeros64(word))
			word &= word - 1
			port := uint16(w)<<6 | j
			if len(t.byPort[port]) > 0 {
				b |= 1 << j
			} else {
				b &^= 1 << j
			}
			var f uint64
			for _, r := range t.byPort[port] {
				f |= 1 << bpf.PairBit(r.second)
			}
			if f != t.filter[port] {
				fports, fwords = append(fports, uint32(port)), append(fwords, f)
			}
		}
		if b != t.bits[w] {
			words, set = append(words, uint32(w)), append(set, b)
		}
	}
	// The filter after the pairs it lets through (written above), and before
	// the first-port bits that start them: a knock never finds its first
	// port live but its pair filtered out, except in the moment between.
	if len(fports) > 0 {
		n, err := k.writePairFilter(fports, fwords)
		for i := range n {
			t.filter[fports[i]] = fwords[i]
		}
		if err != nil {
			return fmt.Errorf("writing the pair filter: %w", err) // not which ports: they belong to live sequences
		}
	}
	if len(words) > 0 {
		n, err := k.writeFirstPortBits(words, set)
		for i := range n {
			t.bits[words[i]] = set[i]
		}
		if err != nil {
			return fmt.Errorf("writing the first-port bitmap: %w", err) // not which ports: they belong to live sequences
		}
	}
	t.dirty, t.nDirty = [1 << 10]uint64{}, 0
	return nil
}

// appendFirstK appends to dst what the kernel's pair entry lists of the live
// slot ids l: at most bpf.K, those not spent first, each group in the order it
// was added. A pair shared by more than bpf.K sequences then never lets a
// spent one crowd out one that can still open.
func (t *table) appendFirstK(dst, l []uint32) []uint32 {
	n := min(len(l), bpf.K)
	start := len(dst)
	for _, want := range []bool{false, true} {
		for _, id := range l {
			if len(dst)-start < n && t.slots[id].spent == want {
				dst = append(dst, id)
			}
		}
	}
	return dst
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
func (t *table) len() int { return t.nLive }

// slotOf is the slot of the live sequence id, 0 if none: for tests.
func (t *table) slotOf(id ident) uint32 {
	s, _ := t.find(id)
	return s
}

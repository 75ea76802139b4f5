// Package detector owns the in-kernel knock detector: the loaded bpf objects,
// their XDP links and the ring-buffer reader. The daemon hands it the whole
// set of valid sequences each time step (SetSequences), removes a sequence the
// moment it is spent (Remove), and reads one Record per completed sequence
// (Read). Per packet nothing runs in userspace.
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
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hideyourports/hyp/bpf"
)

// DefaultKnockTimeout is how long a whole sequence may take (PROTOCOL.md 4).
const DefaultKnockTimeout = 5 * time.Second

// Sequence is one valid knock: the ports a client sends for (key, window,
// counter). KeyID is the daemon's index of the key; it is reported back in
// the Record.
type Sequence struct {
	KeyID   uint32
	Window  uint64
	Counter uint32
	Ports   []uint16
}

// Record is one completed sequence, from Source.
type Record struct {
	Source  netip.Addr
	KeyID   uint32
	Window  uint64
	Counter uint32
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
	Seen         uint64 // UDP datagrams that could be knocks (all dropped)
	Hits         uint64 // datagrams that started or advanced a candidate
	Resets       uint64 // live progress that no candidate survived
	Completions  uint64 // sequences completed in the kernel
	Overflows    uint64 // first-port lookups with more than bpf.K sequences
	RingbufDrops uint64 // completions lost because the ring buffer was full
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

// ident is what makes a sequence unique.
type ident struct {
	key     uint32
	window  uint64
	counter uint32
}

func (s *Sequence) ident() ident { return ident{s.KeyID, s.Window, s.Counter} }

// validate checks one input sequence; i is its index for the error.
func (s *Sequence) validate(i int) error {
	if n := len(s.Ports); n < 2 || n > bpf.MaxLen {
		return fmt.Errorf("sequence %d (key %d, window %d, counter %d): %d ports, want 2 to %d",
			i, s.KeyID, s.Window, s.Counter, n, bpf.MaxLen)
	}
	return nil
}

// kernel is where the table writes its state: the bpf maps, or a fake in
// tests.
type kernel interface {
	// writeSlot stores seq in slot id with gen; seq nil and gen 0 clear it.
	writeSlot(id uint32, seq *Sequence, gen uint32) error
	// writeFirstPort stores the first-port entry of port: count live
	// sequences start there, ids are the first (at most bpf.K) of them.
	writeFirstPort(port uint16, count uint32, ids []uint32) error
	// writeFirstPortBits stores word port/64 of the bitmap of ports with
	// a non-empty first-port entry.
	writeFirstPortBits(word uint32, bits uint64) error
}

type slot struct {
	gen uint32 // 0 = free
	seq Sequence
}

// table is userspace's view of the sequences in the kernel. It is not safe
// for concurrent use; the Detector guards it.
type table struct {
	slots   []slot
	byIdent map[ident]uint32
	// byPort lists, per first port, the live slot ids in the order they
	// were added: the first bpf.K are the ones the kernel sees.
	byPort map[uint16][]uint32
	// free is a FIFO of free slot ids. FIFO, not LIFO, so that a freed
	// slot is reused as late as possible: a program run that read the old
	// slot just before it was cleared is long over by then.
	free    []uint32
	freeAt  int // index of the head of free in the ring
	nFree   int
	lastGen uint32
	// dirty are first ports whose kernel entry is not yet written (a
	// write failed); every change retries them.
	dirty map[uint16]struct{}
}

func newTable(n int) *table {
	t := &table{
		slots:   make([]slot, n),
		byIdent: make(map[ident]uint32),
		byPort:  make(map[uint16][]uint32),
		free:    make([]uint32, n),
		nFree:   n,
		dirty:   make(map[uint16]struct{}),
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

func (t *table) nextGen() uint32 {
	t.lastGen++
	if t.lastGen == 0 {
		t.lastGen = 1
	}
	return t.lastGen
}

// set replaces the live set with seqs.
func (t *table) set(k kernel, seqs []Sequence) error {
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

	var remove []uint32
	keep := 0
	for id, slotID := range t.byIdent {
		if i, ok := want[id]; ok && slices.Equal(seqs[i].Ports, t.slots[slotID].seq.Ports) {
			keep++
			continue
		}
		remove = append(remove, slotID)
	}
	if need := len(seqs) - keep; need > t.nFree+len(remove) {
		return fmt.Errorf("loading %d sequences: %d slots free after removing %d, need %d (raise MaxSequences)",
			len(seqs), t.nFree+len(remove), len(remove), need)
	}

	// Removals first: they take effect at once, and free their slots.
	slices.Sort(remove)
	for _, id := range remove {
		if err := t.clear(k, id); err != nil {
			return err
		}
	}
	for i := range seqs {
		if _, ok := t.byIdent[seqs[i].ident()]; ok {
			continue
		}
		if err := t.add(k, &seqs[i]); err != nil {
			return err
		}
	}
	return t.flush(k)
}

// remove deletes one sequence if it is loaded.
func (t *table) remove(k kernel, id ident) error {
	slotID, ok := t.byIdent[id]
	if !ok {
		return nil
	}
	if err := t.clear(k, slotID); err != nil {
		return err
	}
	return t.flush(k)
}

// clear empties a slot in the kernel first, so the sequence is dead before
// anything else changes, then forgets it.
func (t *table) clear(k kernel, id uint32) error {
	s := &t.slots[id]
	if err := k.writeSlot(id, nil, 0); err != nil {
		return fmt.Errorf("removing sequence (key %d, window %d, counter %d): %w",
			s.seq.KeyID, s.seq.Window, s.seq.Counter, err)
	}
	port := s.seq.Ports[0]
	ids := t.byPort[port]
	if i := slices.Index(ids, id); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(t.byPort, port)
	} else {
		t.byPort[port] = ids
	}
	t.dirty[port] = struct{}{}
	delete(t.byIdent, s.seq.ident())
	*s = slot{}
	t.release(id)
	return nil
}

// add writes a new sequence to a fresh slot. Its first port is only marked
// dirty: flush writes first-port entries after every slot they name.
func (t *table) add(k kernel, seq *Sequence) error {
	id := t.alloc()
	gen := t.nextGen()
	if err := k.writeSlot(id, seq, gen); err != nil {
		t.release(id)
		return fmt.Errorf("adding sequence (key %d, window %d, counter %d): %w",
			seq.KeyID, seq.Window, seq.Counter, err)
	}
	s := &t.slots[id]
	s.gen = gen
	s.seq = Sequence{KeyID: seq.KeyID, Window: seq.Window, Counter: seq.Counter, Ports: slices.Clone(seq.Ports)}
	t.byIdent[seq.ident()] = id
	port := seq.Ports[0]
	t.byPort[port] = append(t.byPort[port], id)
	t.dirty[port] = struct{}{}
	return nil
}

// flush writes the first-port entries of every dirty port, then the bitmap
// words that cover them.
func (t *table) flush(k kernel) error {
	ports := make([]uint16, 0, len(t.dirty))
	for p := range t.dirty {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, p := range ports {
		ids := t.byPort[p]
		if err := k.writeFirstPort(p, uint32(len(ids)), ids[:min(len(ids), bpf.K)]); err != nil {
			return fmt.Errorf("writing first port %d: %w", p, err)
		}
	}
	for i, p := range ports {
		word := p >> 6
		if i > 0 && ports[i-1]>>6 == word {
			continue
		}
		var bits uint64
		for b := range uint16(64) {
			if len(t.byPort[word<<6|b]) > 0 {
				bits |= 1 << b
			}
		}
		if err := k.writeFirstPortBits(uint32(word), bits); err != nil {
			return fmt.Errorf("writing first-port bitmap for ports %d to %d: %w", word<<6, word<<6|63, err)
		}
	}
	for _, p := range ports {
		delete(t.dirty, p)
	}
	return nil
}

// lookup returns the sequence in slot id if its generation is gen.
func (t *table) lookup(id, gen uint32) (Sequence, bool) {
	if int(id) >= len(t.slots) || gen == 0 || t.slots[id].gen != gen {
		return Sequence{}, false
	}
	return t.slots[id].seq, true
}

// len is the number of live sequences.
func (t *table) len() int { return len(t.byIdent) }

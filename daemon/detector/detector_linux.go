package detector

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/bpf"
)

// Detector owns the loaded program, its maps, the ring-buffer reader and the
// XDP links. Its methods are safe for concurrent use, except that Close must
// not race with anything but Read (which it interrupts).
type Detector struct {
	objs  *bpf.Objects
	rd    *ringbuf.Reader
	stats io.Closer // BPF_ENABLE_STATS handle, nil unless Config.RunStats
	watch *watcher  // addresses and XDP links; nil for Load

	// readSem serialises Read. A channel, not a mutex, so a Read waiting
	// for its turn still honours its context.
	readSem chan struct{}
	stale   atomic.Uint64

	closeOnce sync.Once
	closeErr  error

	// setMu guards settings, the copy of the config map's one value: the
	// knock timeout and the local-address filter are written together.
	setMu    sync.Mutex
	settings bpf.Settings

	// udpMu guards udp, the copy of the kernel's UDP-service bitmap, so only changed words are written.
	udpMu sync.Mutex
	udp   [1024]uint64

	// mu guards tab: the slot ids, generations and first-port lists that
	// mirror the kernel maps. SetSequences and Remove write under it; Read
	// takes it to validate a record.
	mu   sync.Mutex
	tab  *table
	kern *mapsKernel // its buffers are reused under mu

	// pendMu guards pendGen (Settings.PendGen), pendTimer (the next
	// rotatePendSeen, stopped by close) and pendClosed.
	pendMu     sync.Mutex
	pendGen    uint32
	pendTimer  *time.Timer
	pendClosed bool
}

// Load loads the program and fills its configuration without attaching it
// to any interface: for Program.Run tests and benchmarks. Config.Interfaces
// is ignored.
func Load(cfg Config) (*Detector, error) {
	if cfg.KnockTimeout < 0 {
		return nil, fmt.Errorf("detector config: KnockTimeout %v is negative", cfg.KnockTimeout)
	}
	if cfg.KnockTimeout == 0 {
		cfg.KnockTimeout = DefaultKnockTimeout
	}
	if cfg.MaxSequences < 0 || cfg.MaxSequences > bpf.MaxSlots {
		return nil, fmt.Errorf("detector config: MaxSequences %d out of range 0 to %d", cfg.MaxSequences, bpf.MaxSlots)
	}
	if cfg.MaxSources < 0 || cfg.MaxSources > 1<<24 {
		return nil, fmt.Errorf("detector config: MaxSources %d out of range 0 to %d", cfg.MaxSources, 1<<24)
	}

	if cfg.MaxTags < 0 || cfg.MaxTags > bpf.MaxSlots*bpf.MaxTagLen {
		return nil, fmt.Errorf("detector config: MaxTags %d out of range 0 to %d", cfg.MaxTags, bpf.MaxSlots*bpf.MaxTagLen)
	}

	objs, err := bpf.Load(bpf.Options{MaxSequences: uint32(cfg.MaxSequences), MaxSources: uint32(cfg.MaxSources), MaxTags: uint32(cfg.MaxTags)})
	if err != nil {
		return nil, err
	}
	d := &Detector{
		objs:    objs,
		readSem: make(chan struct{}, 1),
		tab:     newTable(int(objs.Sequences.MaxEntries())),
	}
	d.kern = &mapsKernel{objs: objs, settings: d.updateSettings}
	if err := d.setup(cfg); err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// SetUDPServices replaces the UDP ports of real services, whose datagrams are never knocks: a key
// file added at run time may name one. Each 64-port word of the bitmap is written whole, so a
// packet sees either the old or the new word, never a torn one.
func (d *Detector) SetUDPServices(ports []uint16) error {
	var svc [1024]uint64
	for _, p := range ports {
		svc[p>>6] |= 1 << (p & 63)
	}
	d.udpMu.Lock()
	defer d.udpMu.Unlock()
	for w, bits := range svc {
		if bits == d.udp[w] {
			continue
		}
		if err := d.objs.UDPServices.Update(uint32(w), bits, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("marking UDP services %v: %w", ports, err)
		}
		d.udp[w] = bits
	}
	return nil
}

func (d *Detector) setup(cfg Config) error {
	if err := d.SetKnockTimeout(cfg.KnockTimeout); err != nil {
		return err
	}
	// The pending array's hash key: secret and new at every load, so that
	// no sender can choose sources that share a knocking client's bucket
	// (knock.c, knock).
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return fmt.Errorf("drawing the pending array's hash key: %w", err)
	}
	if err := d.updateSettings(func(s *bpf.Settings) {
		s.PendSeed = binary.NativeEndian.Uint64(seed[:])
		s.PendMask = d.objs.Pending.MaxEntries() - 1
	}); err != nil {
		return err
	}
	if err := d.SetUDPServices(cfg.UDPServices); err != nil {
		return err
	}
	if cfg.LocalAddrs != nil {
		for _, a := range cfg.LocalAddrs {
			if err := d.objs.LocalAddrs.Update(addrKey(a.Unmap()), uint8(1), ebpf.UpdateAny); err != nil {
				return fmt.Errorf("adding local address %v: %w", a, err)
			}
		}
		if !cfg.noInline {
			n, list := inlineList(func(yield func(netip.Addr) bool) {
				for _, a := range cfg.LocalAddrs {
					if !yield(a.Unmap()) {
						return
					}
				}
			})
			if err := d.updateSettings(func(s *bpf.Settings) { s.LocalN, s.Local = n, list }); err != nil {
				return err
			}
		}
		if err := d.setLocalFilter(true); err != nil {
			return err
		}
	}
	rd, err := ringbuf.NewReader(d.objs.Records)
	if err != nil {
		return fmt.Errorf("opening knock record reader: %w", err)
	}
	d.rd = rd
	if cfg.RunStats {
		st, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
		if err != nil {
			return fmt.Errorf("enabling BPF run-time stats: %w", err)
		}
		d.stats = st
	}
	d.schedulePendSeen()
	return nil
}

// schedulePendSeen arms the next rotatePendSeen, bpf.PendSeenPeriod from now.
func (d *Detector) schedulePendSeen() {
	d.pendMu.Lock()
	defer d.pendMu.Unlock()
	if d.pendClosed {
		return
	}
	d.pendTimer = time.AfterFunc(bpf.PendSeenPeriod, func() {
		// A failed rotation leaves both generations as they were:
		// buckets stay marked longer, never shorter.
		_ = d.rotatePendSeen()
		d.schedulePendSeen()
	})
}

// rotatePendSeen clears the older generation of the pending array's bucket
// marks and makes it current. A bucket's mark so lives from its last entry
// written until the second rotation after it: at least bpf.PendSeenPeriod,
// longer than any knock, so a live entry is never skipped.
func (d *Detector) rotatePendSeen() error {
	d.pendMu.Lock()
	defer d.pendMu.Unlock()
	if d.pendClosed {
		// close holds pendMu while it marks the detector closed, so no
		// rotation runs on maps being closed.
		return nil
	}
	next := 1 - d.pendGen
	if err := d.objs.PendSeen.Update(next, &bpf.PendSeenBits{}, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("clearing generation %d of the pending buckets' marks: %w", next, err)
	}
	if err := d.updateSettings(func(s *bpf.Settings) { s.PendGen = next }); err != nil {
		return fmt.Errorf("switching the pending buckets' marks to generation %d: %w", next, err)
	}
	d.pendGen = next
	return nil
}

// Open loads the program and attaches it to every interface in
// cfg.Interfaces that exists: in native (driver) mode where the driver
// supports it, else in generic mode. An interface that does not exist yet is
// not an error: the detector attaches to it when it appears, and again each
// time it is deleted and re-created, so a reconnecting uplink never leaves
// clients locked out. Interfaces says where the program really is.
//
// Before attaching, Open fills the program's map of local addresses and keeps
// it current, so that only datagrams to the gateway itself are judged.
func Open(cfg Config) (*Detector, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("detector config: Interfaces is empty")
	}
	cfg.LocalAddrs = nil
	d, err := Load(cfg)
	if err != nil {
		return nil, err
	}
	names := slices.Compact(slices.Sorted(slices.Values(cfg.Interfaces)))
	d.watch, err = startWatcher(cfg.NetNS, d.objs, names, cfg.OnInterface, d.updateSettings, cfg.eventBuf, cfg.replyNow, cfg.replyWarmup)
	if err != nil {
		return nil, errors.Join(err, d.Close())
	}
	return d, nil
}

// settingsNow returns the settings as last written.
func (d *Detector) settingsNow() bpf.Settings {
	d.setMu.Lock()
	defer d.setMu.Unlock()
	return d.settings
}

// setLocalFilter switches the program between judging every destination
// (off) and only the local-address map's (on).
func (d *Detector) setLocalFilter(on bool) error {
	return d.updateSettings(func(s *bpf.Settings) {
		s.LocalFilter = 0
		if on {
			s.LocalFilter = 1
		}
	})
}

// updateSettings changes the config map's value with fn, all fields at once.
func (d *Detector) updateSettings(fn func(*bpf.Settings)) error {
	d.setMu.Lock()
	defer d.setMu.Unlock()
	next := d.settings
	fn(&next)
	if err := d.objs.Config.Update(uint32(0), next, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing knock detector settings: %w", err)
	}
	d.settings = next
	return nil
}

// Program is the loaded XDP program, for Program.Run in tests and
// benchmarks. It stays owned by the Detector.
func (d *Detector) Program() *ebpf.Program { return d.objs.Program }

// SetKnockTimeout changes the knock timeout at once.
func (d *Detector) SetKnockTimeout(timeout time.Duration) error {
	if timeout <= 0 {
		return fmt.Errorf("setting knock timeout: %v is not positive", timeout)
	}
	if err := d.updateSettings(func(s *bpf.Settings) { s.TimeoutNs = uint64(timeout) }); err != nil {
		return fmt.Errorf("setting knock timeout: %w", err)
	}
	return nil
}

// SetSequences makes seqs the whole set of valid sequences. Sequences
// already loaded stay in their slots (so sources part-way through them keep
// their progress); others are removed, at once, before new ones are added.
// A caller marks spent sequences Spent: SetSequences loads what it is
// given. On error the kernel holds a consistent subset of old and new.
func (d *Detector) SetSequences(seqs []Sequence) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tab.set(d.kern, seqs)
}

// Update removes the sequences named in remove (those not loaded are
// skipped) and adds those in add, replacing any loaded under the same (key,
// window, counter): a time step's change, whose cost is that of the change
// and not of the whole set. Removals take effect before additions. On error
// the kernel holds a consistent subset of old and new.
//
// It works in slices of updateChunk, taking the table's lock for each: Read
// needs that lock to check every record, and a step of 100,000 keys holds it
// for a good part of a second, which a knock completing then would wait out.
func (d *Detector) Update(remove []Ref, add []Sequence) error {
	for len(remove) > 0 {
		n := min(len(remove), updateChunk)
		if err := d.apply(remove[:n], nil); err != nil {
			return err
		}
		remove = remove[n:]
	}
	for len(add) > 0 {
		n := min(len(add), updateChunk)
		if err := d.apply(nil, add[:n]); err != nil {
			return err
		}
		add = add[n:]
	}
	return nil
}

// updateChunk is how many sequences Update changes under one hold of the
// table's lock: a few milliseconds' work.
const updateChunk = 1024

func (d *Detector) apply(remove []Ref, add []Sequence) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tab.apply(d.kern, remove, add)
}

// MarkSpent keeps one sequence loaded but flags it spent: a source that
// completes it again gets a Record with Replay set (at most one a second per
// sequence), so a replay is seen and refused instead of being noise. Marking
// a sequence that is not loaded, or is spent already, is not an error.
func (d *Detector) MarkSpent(keyID uint32, window uint64, counter uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tab.markSpent(d.kern, newIdent(keyID, window, counter))
}

// Remove deletes one sequence at once (its window passed, or it must not be
// followed any more). Removing a sequence that is not loaded is not an error.
func (d *Detector) Remove(keyID uint32, window uint64, counter uint32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tab.remove(d.kern, newIdent(keyID, window, counter))
}

// Len is the number of sequences loaded.
func (d *Detector) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tab.len()
}

// Read returns the next completed sequence. It blocks until one arrives, ctx
// is done, or the detector is closed. Records for sequences removed or
// replaced since they completed are skipped and counted as Stale.
func (d *Detector) Read(ctx context.Context) (Record, error) {
	select {
	case d.readSem <- struct{}{}:
	case <-ctx.Done():
		return Record{}, ctx.Err()
	}
	defer func() { <-d.readSem }()

	// Flush wakes a blocked read; the reader then returns what is queued
	// and ErrFlushed. SetDeadline cannot be used: it waits for the read's
	// lock. A flush that lands after this Read returns only makes a later
	// Read loop once.
	stop := context.AfterFunc(ctx, func() { _ = d.rd.Flush() })
	defer stop()
	for {
		raw, err := d.rd.Read()
		switch {
		case errors.Is(err, ringbuf.ErrFlushed):
			if err := ctx.Err(); err != nil {
				return Record{}, err
			}
			continue
		case errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed):
			return Record{}, ErrClosed
		case err != nil:
			return Record{}, fmt.Errorf("reading knock record: %w", err)
		}
		kr, err := bpf.DecodeRecord(raw.RawSample)
		if err != nil {
			return Record{}, err
		}
		if rec, ok := d.validate(kr); ok {
			return rec, nil
		}
		d.stale.Add(1)
	}
}

// validate turns a kernel record into a Record if its slot still holds the
// sequence that completed.
func (d *Detector) validate(kr bpf.Record) (Record, bool) {
	d.mu.Lock()
	seq, ok := d.tab.lookup(kr.SeqId, kr.Gen)
	d.mu.Unlock()
	if !ok || seq.KeyID != kr.KeyId || seq.Window != kr.Window || seq.Counter != kr.Counter {
		return Record{}, false
	}
	var src netip.Addr
	switch kr.Family {
	case bpf.FamilyV4:
		src = netip.AddrFrom4([4]byte(kr.Addr[12:16]))
	case bpf.FamilyV6:
		src = netip.AddrFrom16(kr.Addr)
		// The program passes v4-mapped sources; should one ever be
		// reported, a grant would open the IPv4 address it names.
		if src.Is4In6() {
			return Record{}, false
		}
	default:
		return Record{}, false
	}
	return Record{Source: src, KeyID: kr.KeyId, Window: kr.Window, Counter: kr.Counter, Replay: kr.Flags&bpf.RecReplay != 0}, true
}

// Counters returns the program's counters summed over CPUs.
func (d *Detector) Counters() (Counters, error) {
	var per []bpf.Stats
	if err := d.objs.Counters.Lookup(uint32(0), &per); err != nil {
		return Counters{}, fmt.Errorf("reading knock counters: %w", err)
	}
	var c Counters
	for _, s := range per {
		c.Seen += s.Seen
		c.Hits += s.Hits
		c.Resets += s.Resets
		c.Completions += s.Completions
		c.Overflows += s.Overflows
		c.RingbufDrops += s.RingbufDrops
		c.ReplaysUnreported += s.ReplaysUnreported
	}
	c.Stale = d.stale.Load()
	return c, nil
}

// Interfaces reports each configured interface as the kernel has it now:
// which program is attached in which mode is read back from the link, so a
// detached or re-created interface shows as it is, not as it was at Open.
// Empty for a detector made by Load.
func (d *Detector) Interfaces() []InterfaceState {
	if d.watch == nil {
		return nil
	}
	return d.watch.interfaces()
}

// ConntrackReplies says whether the program lets replies in flows conntrack
// knows pass (the kernel has bpf_xdp_ct_lookup). Without it, small replies to
// the gateway's own high ports are judged as knocks.
func (d *Detector) ConntrackReplies() bool { return d.objs.ConntrackReplies }

// ReplyPrefilter says whether the program asks conntrack only about datagrams
// to ports that had UDP traffic out lately (the egress program is on every
// attached interface and has watched for a whole reply window), rather than
// about every datagram it would drop.
func (d *Detector) ReplyPrefilter() bool { return d.settingsNow().ReplyOn != 0 }

// AttachModes maps each configured interface to its Interfaces mode:
// "native", "generic", "missing" or "error: ...".
func (d *Detector) AttachModes() map[string]string {
	st := d.Interfaces()
	m := make(map[string]string, len(st))
	for _, s := range st {
		m[s.Name] = s.Mode
	}
	return m
}

// RunStats returns how often the program ran and its total run time, as the
// kernel counts them while BPF run-time stats are on (Config.RunStats).
func (d *Detector) RunStats() (runCount, runTimeNs uint64, err error) {
	if d.stats == nil {
		return 0, 0, errors.New("reading knock program run stats: Config.RunStats is off")
	}
	st, err := d.objs.Program.Stats()
	if err != nil {
		return 0, 0, fmt.Errorf("reading knock program run stats: %w", err)
	}
	return st.RunCount, uint64(st.Runtime), nil
}

// Close stops following the namespace and detaches the program from every
// interface, then closes the record
// reader, the stats handle and the program and maps: the reverse of Open.
// A blocked Read returns ErrClosed.
func (d *Detector) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.close() })
	return d.closeErr
}

func (d *Detector) close() error {
	var errs []error
	d.pendMu.Lock()
	if d.pendTimer != nil {
		d.pendTimer.Stop()
	}
	d.pendClosed = true
	d.pendMu.Unlock()
	if d.watch != nil {
		if err := d.watch.stop(); err != nil {
			errs = append(errs, err)
		}
		d.watch = nil
	}
	if d.stats != nil {
		if err := d.stats.Close(); err != nil {
			errs = append(errs, fmt.Errorf("disabling BPF run-time stats: %w", err))
		}
		d.stats = nil
	}
	if d.rd != nil {
		if err := d.rd.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing knock record reader: %w", err))
		}
	}
	if d.objs != nil {
		if err := d.objs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing knock program: %w", err))
		}
	}
	return errors.Join(errs...)
}

// mapsKernel writes the table's state into the bpf maps, a batch per
// syscall (BPF_MAP_UPDATE_BATCH) where the kernel has it.
type mapsKernel struct {
	objs     *bpf.Objects
	settings func(func(*bpf.Settings)) error
	vals     []bpf.Sequence // reused: a start with many keys writes hundreds of batches
	pairs    []bpf.Pair     // reused likewise
}

func (k *mapsKernel) writeSlots(ids []uint32, seqs []*Sequence, gens []uint32) (int, error) {
	if cap(k.vals) < len(ids) {
		k.vals = make([]bpf.Sequence, len(ids))
	}
	vals := k.vals[:len(ids)]
	for i, seq := range seqs {
		vals[i] = bpf.Sequence{}
		if seq == nil {
			continue
		}
		v := &vals[i]
		copy(v.Ports[:], seq.Ports)
		v.Len = uint32(len(seq.Ports))
		v.KeyId = seq.KeyID
		v.Window = seq.Window
		v.Counter = seq.Counter
		v.Gen = gens[i]
		if seq.Spent {
			v.Flags = bpf.SeqSpent
		}
	}
	return update(k.objs.Sequences, ids, vals)
}

func (k *mapsKernel) markSpent(id, gen uint32) error {
	var v bpf.Sequence
	if err := k.objs.Sequences.Lookup(id, &v); err != nil {
		return fmt.Errorf("reading slot %d: %w", id, err)
	}
	if v.Gen != gen {
		return fmt.Errorf("slot %d holds generation %d, want %d", id, v.Gen, gen)
	}
	// The program writes ReplayNs only of a spent sequence, so nothing
	// it wrote is lost by writing the value back whole.
	v.Flags |= bpf.SeqSpent
	v.ReplayNs = 0
	if err := k.objs.Sequences.Update(id, &v, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("writing slot %d: %w", id, err)
	}
	return nil
}

func (k *mapsKernel) writePairs(keys []uint32, counts []uint32, ids [][]uint32) (int, error) {
	// Updates and deletes keep their order within each run of one kind.
	done := 0
	for done < len(keys) {
		del := counts[done] == 0
		end := done + 1
		for end < len(keys) && (counts[end] == 0) == del {
			end++
		}
		var n int
		var err error
		if del {
			n, err = deleteKeys(k.objs.Pairs, keys[done:end])
		} else {
			if cap(k.pairs) < end-done {
				k.pairs = make([]bpf.Pair, end-done)
			}
			vals := k.pairs[:end-done]
			for i := range vals {
				vals[i] = bpf.Pair{Count: counts[done+i]}
				copy(vals[i].Ids[:], ids[done+i])
			}
			n, err = update(k.objs.Pairs, keys[done:end], vals)
		}
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (k *mapsKernel) writeTags(tags []tagEntry) (int, error) {
	keys := make([][8]byte, len(tags))
	vals := make([]bpf.Tag, len(tags))
	for i, e := range tags {
		binary.BigEndian.PutUint64(keys[i][:], e.tag)
		vals[i] = bpf.Tag{Id: e.id, Gen: e.gen, Port: e.port, Pos: e.pos, Len: e.len}
	}
	return update(k.objs.Tags, keys, vals)
}

func (k *mapsKernel) deleteTags(tags []uint64) (int, error) {
	keys := make([][8]byte, len(tags))
	for i, t := range tags {
		binary.BigEndian.PutUint64(keys[i][:], t)
	}
	return deleteKeys(k.objs.Tags, keys)
}

func (k *mapsKernel) setKinds(port, tagged bool) error {
	return k.settings(func(s *bpf.Settings) {
		s.PortSeqs, s.TagSeqs = 0, 0
		if port {
			s.PortSeqs = 1
		}
		if tagged {
			s.TagSeqs = 1
		}
	})
}

func (k *mapsKernel) writeFirstPortBits(words []uint32, bits []uint64) (int, error) {
	return update(k.objs.FirstPortBits, words, bits)
}

func (k *mapsKernel) writePairFilter(ports []uint32, words []uint64) (int, error) {
	return update(k.objs.PairFilter, ports, words)
}

// update writes vals[i] at keys[i] of an array or hash map, in order, and
// returns how many it wrote. Both take a batch in one syscall since Linux
// 5.6; before, or for a single entry, one update per entry.
func update[K, V any](m *ebpf.Map, keys []K, vals []V) (int, error) {
	if len(keys) > 1 {
		n, err := m.BatchUpdate(keys, vals, nil)
		if !errors.Is(err, ebpf.ErrNotSupported) {
			if err != nil && n >= len(keys) {
				n = len(keys) - 1
			}
			return n, err
		}
	}
	for i := range keys {
		if err := m.Update(keys[i], &vals[i], ebpf.UpdateAny); err != nil {
			return i, err
		}
	}
	return len(keys), nil
}

// deleteKeys deletes keys from a hash map, in one syscall where the kernel
// takes a batch (Linux 5.6), and returns how many are gone. A key not there
// counts as gone.
func deleteKeys[K any](m *ebpf.Map, keys []K) (int, error) {
	if len(keys) > 1 {
		n, err := m.BatchDelete(keys, nil)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, ebpf.ErrNotSupported):
		case errors.Is(err, ebpf.ErrKeyNotExist):
			// The batch stops at a missing key: the ones before it
			// are gone; go on one by one from there.
			keys = keys[n:]
			done, err := deleteEach(m, keys)
			return n + done, err
		default:
			if n >= len(keys) {
				n = len(keys) - 1
			}
			return n, err
		}
	}
	return deleteEach(m, keys)
}

func deleteEach[K any](m *ebpf.Map, keys []K) (int, error) {
	for i := range keys {
		if err := m.Delete(keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return i, err
		}
	}
	return len(keys), nil
}

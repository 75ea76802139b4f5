package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The generated C types, exported under the names the rest of hyp uses.
// Their layout is the program's; encode them with the host byte order.
type (
	// Sequence is a value of the sequences map (slot id -> sequence).
	Sequence = knockSequence
	// Pair is a value of the pairs map (first << 16 | second port -> slot
	// ids of the port sequences that start with those two ports).
	Pair = knockPair
	// Tag is a value of the tags map (8 payload bytes -> where that tag
	// belongs).
	Tag = knockTag
	// Progress is a value of the sources map (source -> candidates in port
	// sequences).
	Progress = knockProgress
	// TagProgress is a value of the tag_sources map (source -> candidates in
	// tagged sequences).
	TagProgress = knockTagProgress
	// PendBucket is a value of the pending array: PendWays entries, each a
	// source's first port or the mark that it follows a live pair
	// (UnpackPend).
	PendBucket = knockPendBucket
	// PendSeenBits is one generation of the pending array's bucket marks:
	// bit b%64 of word b/64 is bucket b.
	PendSeenBits = knockPendSeenBits
	// ReplyGenBits is one generation of the reply prefilter's port bitmap:
	// bit p%64 of word p/64 is local UDP port p.
	ReplyGenBits = knockReplyGenBits
	// Addr is a key of the sources map: IPv6, or IPv4 mapped into IPv6.
	Addr = knockAddr
	// Record is one ring-buffer record: a completed sequence.
	Record = knockRecord
	// Settings is the single value of the config map.
	Settings = knockSettings
	// Stats is the per-CPU value of the counters map.
	Stats = knockStats
)

// Objects owns the loaded program and maps. Fields are valid until Close.
type Objects struct {
	// Program is the XDP program: attach it, or run it with Program.Run.
	Program *ebpf.Program
	// Egress is the tc (tcx) program for the egress of the interfaces
	// Program is on: it notes the local UDP ports datagrams leave from
	// (ReplyBits), so Program asks conntrack about replies only there.
	Egress *ebpf.Program
	// ReplyBits is u32 generation (0, 1) -> ReplyGenBits (array): a bitmap
	// of the local UDP ports a datagram left from, or a reply to passed,
	// while that generation was current (Settings.ReplyGen).
	ReplyBits *ebpf.Map

	Sequences *ebpf.Map // u32 slot id -> Sequence (array; Gen 0 = empty)
	// Pairs is u32 (first << 16 | second port) -> Pair (hash): the port
	// sequences by their first two ports.
	Pairs *ebpf.Map
	// Tags is [8]byte (the tag, big-endian, as the datagram carries it) ->
	// Tag (hash): every datagram of every loaded tagged sequence.
	Tags        *ebpf.Map
	TagSources  *ebpf.Map // Addr -> TagProgress (LRU hash)
	UDPServices *ebpf.Map // u32 port/64 -> u64 bitmap of UDP service ports (array)
	// FirstPortBits is a u32 port/64 -> u64 bitmap (array) of the ports
	// where a port sequence starts: a source's first datagram there is
	// noted, to any other port it is noise.
	FirstPortBits *ebpf.Map
	// PairFilter is u32 first port -> u64 (array): bit PairBit(second) is
	// set for the second port of every live port sequence starting there.
	PairFilter *ebpf.Map
	Sources    *ebpf.Map // Addr -> Progress (LRU hash)
	// Pending is u32 bucket -> PendBucket (array of a power of two
	// entries): where each source's first port of a port sequence is
	// noted, by a keyed hash of its address (Settings.PendSeed,
	// Settings.PendMask, which the owner must set).
	Pending *ebpf.Map
	// PendSeen is u32 generation (0, 1) -> PendSeenBits (array): the
	// buckets of Pending written while that generation was current
	// (Settings.PendGen).
	PendSeen *ebpf.Map
	// LocalAddrs is Addr -> u8 (hash): the gateway's own addresses. The
	// program judges only datagrams to them once Settings.LocalFilter is
	// set.
	LocalAddrs *ebpf.Map
	// RawIfaces is u32 ifindex -> u8 (hash): interfaces without a
	// link-layer header (PPP, tun). Settings.RawIfaces counts them.
	RawIfaces *ebpf.Map

	// ConntrackReplies says whether the loaded program checks conntrack
	// for replies (the kernel resolved bpf_xdp_ct_lookup): without it a
	// small reply to one of the gateway's own flows is judged as a knock.
	ConntrackReplies bool
	Records          *ebpf.Map // ring buffer of Record
	Config           *ebpf.Map // u32 0 -> Settings (array)
	Counters         *ebpf.Map // u32 0 -> Stats per CPU

	objs knockObjects
}

// Load loads the program and creates its maps, sized by opts. Nothing is
// attached. The caller owns the result and must Close it.
func Load(opts Options) (*Objects, error) {
	opts = opts.withDefaults()
	if opts.MaxSequences > MaxSlots {
		return nil, fmt.Errorf("loading knock program: MaxSequences %d is over %d", opts.MaxSequences, MaxSlots)
	}
	spec, err := loadKnock()
	if err != nil {
		return nil, fmt.Errorf("loading knock program spec: %w", err)
	}
	spec.Maps[knockMapSequences].MaxEntries = opts.MaxSequences
	spec.Maps[knockMapSources].MaxEntries = opts.MaxSources
	if opts.PendBuckets > MaxPendBuckets {
		return nil, fmt.Errorf("loading knock program: PendBuckets %d is over %d", opts.PendBuckets, MaxPendBuckets)
	}
	spec.Maps[knockMapPending].MaxEntries = opts.PendBuckets
	// Only a datagram with a live tag makes an entry there, which an
	// attacker without the key cannot send: room for the clients knocking
	// at once is enough.
	spec.Maps[knockMapTagSources].MaxEntries = min(opts.MaxSources, MaxTagSources)
	spec.Maps[knockMapPairs].MaxEntries = opts.MaxSequences
	spec.Maps[knockMapTags].MaxEntries = opts.MaxTags
	// Preallocated, a time step's deletes and inserts cost half the kernel
	// time; but a preallocated map holds its whole size in kernel memory,
	// used or not (a gateway of v3 keys alone uses no pair, one of v2 keys
	// no tag). Past PreallocLimit entries the memory matters more.
	for _, m := range []*ebpf.MapSpec{spec.Maps[knockMapPairs], spec.Maps[knockMapTags]} {
		if m.MaxEntries > PreallocLimit {
			m.Flags |= unix.BPF_F_NO_PREALLOC
		}
	}

	o := &Objects{}
	if err := spec.LoadAndAssign(&o.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("loading knock program: %+v", verr)
		}
		return nil, fmt.Errorf("loading knock program: %w", err)
	}
	o.Program = o.objs.XdpKnock
	o.Egress = o.objs.TcEgress
	o.ReplyBits = o.objs.ReplyBits
	o.Sequences = o.objs.Sequences
	o.Pairs = o.objs.Pairs
	o.Tags = o.objs.Tags
	o.TagSources = o.objs.TagSources
	o.UDPServices = o.objs.UdpServices
	o.FirstPortBits = o.objs.FirstPortBits
	o.PairFilter = o.objs.PairFilter
	o.Sources = o.objs.Sources
	o.Pending = o.objs.Pending
	o.PendSeen = o.objs.PendSeen
	o.LocalAddrs = o.objs.LocalAddrs
	o.RawIfaces = o.objs.RawIfaces
	o.ConntrackReplies = hasKfuncCalls(o.Program)
	o.Records = o.objs.Records
	o.Config = o.objs.Config
	o.Counters = o.objs.Counters
	return o, nil
}

// hasKfuncCalls reads the verified program back: where the weak kfuncs were
// not resolved the verifier removed their calls as dead code. A program that
// cannot be read back counts as without.
func hasKfuncCalls(p *ebpf.Program) bool {
	info, err := p.Info()
	if err != nil {
		return false
	}
	insns, err := info.Instructions()
	if err != nil {
		return false
	}
	for _, ins := range insns {
		if ins.IsKfuncCall() {
			return true
		}
	}
	return false
}

// Close releases the program and then the maps, joining errors.
func (o *Objects) Close() error {
	// The generated Close stops at the first error; close everything.
	return errors.Join(
		o.objs.XdpKnock.Close(),
		o.objs.TcEgress.Close(),
		o.objs.Config.Close(),
		o.objs.Counters.Close(),
		o.objs.Pairs.Close(),
		o.objs.PendSeen.Close(),
		o.objs.Pending.Close(),
		o.objs.PairFilter.Close(),
		o.objs.FirstPortBits.Close(),
		o.objs.LocalAddrs.Close(),
		o.objs.RawIfaces.Close(),
		o.objs.ReplyBits.Close(),
		o.objs.Records.Close(),
		o.objs.Sequences.Close(),
		o.objs.Sources.Close(),
		o.objs.TagSources.Close(),
		o.objs.Tags.Close(),
		o.objs.UdpServices.Close(),
	)
}

// DecodeRecord decodes one raw ring-buffer sample.
func DecodeRecord(raw []byte) (Record, error) {
	var r Record
	if n := binary.Size(r); len(raw) < n {
		return Record{}, fmt.Errorf("decoding knock record: %d bytes, want %d", len(raw), n)
	}
	if _, err := binary.Decode(raw, binary.NativeEndian, &r); err != nil {
		return Record{}, fmt.Errorf("decoding knock record: %w", err)
	}
	return r, nil
}

package bpf

import (
	"math/bits"
	"time"
)

// Limits compiled into knock.c; TestLayout checks they match the generated
// types, so userspace and the program cannot drift apart.
const (
	// MaxLen is the longest sequence the program can follow.
	MaxLen = 32
	// K is how many port sequences one pair of first ports can start and
	// so how many candidates one source can follow at once. No count of
	// sequences at one first port limits anything.
	K = 8
	// MaxTagLen is the longest tagged (v3) sequence.
	MaxTagLen = 8
	// TK is how many tagged sequences one source can be part-way through at
	// once (knock.c's tag_start_place says which place a new one takes).
	TK = 8
	// MaxPayload is the largest UDP payload that still counts as a knock.
	MaxPayload = 16

	// FamilyV4 and FamilyV6 are the values of Record.Family.
	FamilyV4 = 4
	FamilyV6 = 6

	// DefaultMaxSequences is the default number of sequence slots: 10,000
	// keys x 3 windows x 2 uses fit with room for a step's turnover.
	DefaultMaxSequences = 65536
	// MaxLocalAddrs is the size of the local-address map.
	MaxLocalAddrs = 4096
	// LocalInline is how many local addresses Settings.Local holds, where
	// the program compares them without a hash lookup; Settings.LocalN is
	// their number + 1, or 0 when there are more (the map alone then).
	LocalInline = 16
	// DefaultMaxSources is the default number of sources whose progress
	// the LRU map follows at once: sources past the first two ports of a
	// live port sequence (a first port alone is in the pending array).
	DefaultMaxSources = 65536
	// MaxTagSources bounds the sources followed through tagged sequences
	// at once (LRU): 16,384 clients part-way through a v3 knock.
	MaxTagSources = 16384

	// PendWays is how many entries one bucket of the pending array holds
	// (PEND_WAYS in knock.c): 8 of 8 bytes, one cache line.
	PendWays = 8
	// DefaultPendBuckets is the default number of buckets of the pending
	// array: 524,288 entries, 4 MiB. A knock's first port survives a
	// spoofed flood of R first ports a second for a gap g unless 8 of them
	// fall in its bucket within g: Poisson with mean R*g/65,536, so about
	// 6e-12 at 1 Mpps and 10 ms, 2.4e-3 at 14.9 Mpps (10 Gb/s of the
	// smallest frames).
	DefaultPendBuckets = 1 << 16
	// MaxPendBuckets bounds Options.PendBuckets: 64 MiB.
	MaxPendBuckets = 1 << 20
	// PendSeenPeriod is how often userspace clears the older generation of
	// PendSeen and makes it current: longer than any knock timeout (a
	// minute at most) with the pending entries' tick to spare, so a bucket
	// with a live entry is always marked.
	PendSeenPeriod = 65 * time.Second
	// PendTickShift is the unit of a pending entry's time: 2^20 ns.
	PendTickShift = 20
)

// Pending entry states (PEND_PENDING and PEND_FOLLOWING in knock.c).
const (
	// PendPending: only the first port of a port sequence arrived.
	PendPending = 1
	// PendFollowing: the first two ports matched a live pair; the
	// source's candidates are in the sources map.
	PendFollowing = 2
)

// PendHash is knock.c's pend_hash: the keyed hash of a source address (the
// four words of an Addr). Its low bits masked by the number of buckets - 1
// pick the bucket, PendFingerprint the entry.
func PendHash(seed uint64, w [4]uint32) uint64 {
	lo := uint64(w[0])<<32 | uint64(w[1])
	hi := uint64(w[2])<<32 | uint64(w[3])
	return mix64(mix64(seed^lo^0x9e3779b97f4a7c15) ^ hi)
}

// PendFingerprint is the fingerprint a pending entry of hash h carries.
func PendFingerprint(h uint64) uint64 { return h >> 34 }

// UnpackPend splits one pending entry into its fingerprint, tick, port and
// state (see PE in knock.c).
func UnpackPend(e uint64) (fp uint64, tick uint32, port uint16, state uint32) {
	return e >> 34, uint32(e>>18) & 0xffff, uint16(e >> 2), uint32(e) & 3
}

// mix64 is MurmurHash3's 64-bit finaliser.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// MaxSlots bounds Options.MaxSequences: a candidate keeps a slot id in 24
// bits.
const MaxSlots = 1 << 24

// PreallocLimit is the largest pairs or tags map that is preallocated
// (about 100 and 80 bytes of kernel memory an entry, used or not); a larger
// one allocates its entries as they are inserted.
const PreallocLimit = 1 << 20

// UnpackCandidate splits one Progress candidate into its slot id,
// generation and the number of ports matched (see CAND in knock.c).
func UnpackCandidate(c uint64) (id, gen, pos uint32) {
	return uint32(c) & 0xffffff, uint32(c >> 32), uint32(c>>24) & 0xff
}

// Options sizes the maps that depend on the deployment. Zero fields take
// the defaults.
type Options struct {
	MaxSequences uint32
	MaxSources   uint32
	// PendBuckets is the number of buckets of the pending array, where
	// every source's first port of a port sequence is noted: rounded up
	// to a power of two, at most MaxPendBuckets.
	PendBuckets uint32
	// MaxTags bounds the tags of loaded tagged sequences (0: twice
	// MaxSequences, v3's default length). Up to PreallocLimit the map is
	// preallocated.
	MaxTags uint32
}

func (o Options) withDefaults() Options {
	if o.MaxSequences == 0 {
		o.MaxSequences = DefaultMaxSequences
	}
	if o.MaxSources == 0 {
		o.MaxSources = DefaultMaxSources
	}
	if o.PendBuckets == 0 {
		o.PendBuckets = DefaultPendBuckets
	}
	if o.PendBuckets <= MaxPendBuckets {
		o.PendBuckets = 1 << bits.Len32(o.PendBuckets-1)
	}
	if o.MaxTags == 0 {
		o.MaxTags = 2 * o.MaxSequences
	}
	return o
}

// Flags of Sequence.Flags and Record.Flags (SEQ_SPENT and REC_REPLAY in
// knock.c).
const (
	// SeqSpent marks a sequence that opened once already: it stays loaded
	// until its window passes so that a replay of it is reported.
	SeqSpent = 1
	// RecReplay marks a record of a spent sequence completed again.
	RecReplay = 1
)

// PairBit is knock.c's pair_bit: the bit of a second port in the pair filter
// word of its first port.
func PairBit(second uint16) uint { return uint((uint32(second) * 2654435761) >> 26) }

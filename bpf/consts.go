package bpf

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
	// DefaultMaxSources is the default number of sources whose progress
	// the LRU map follows at once.
	DefaultMaxSources = 65536
	// MaxTagSources bounds the sources followed through tagged sequences
	// at once (LRU): 16,384 clients part-way through a v3 knock.
	MaxTagSources = 16384
)

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

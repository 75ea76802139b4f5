//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
//
// knock.c: the in-kernel half of the hyp knock detector (docs/protocol.md sections 4-5).
//
// Every UDP datagram that could be a knock (payload 0..16 bytes, to one of the
// gateway's own addresses, to a port that is not a configured UDP service, and
// not a reply in a flow conntrack knows) is dropped here, whether or not it
// matches anything, so a prober learns nothing from the answer (there is
// none: the datagram never reaches the stack, so no ICMP either). While
// dropping it, the program follows its source address through the loaded
// sequences and emits one ring-buffer record when a source has sent one whole
// sequence in order within the knock timeout.
//
// Two kinds of sequence (docs/protocol.md 5 and 10):
// - port sequences (v2, hyp) are told from noise by their ports alone: a
//   source's progress follows every datagram, and one that matches no
//   candidate resets it. The first datagram only notes its port in the
//   pending array (one store, no hash-map insert); the second looks the pair
//   of ports up, so no count of sequences at one first port limits which can
//   start, and only a pair that matches a live sequence (which takes the
//   key) writes the source's progress in the LRU map sources.
// - tagged sequences (v3) carry an 8-byte tag in each datagram: a datagram
//   whose tag is not live costs one hash lookup and writes nothing, and does
//   not reset a source's tagged progress.
// A gateway that has no port sequences loaded does no per-source work for
// noise at all.
//
// The memory is bounded by the map sizes whatever an attacker sends.

#include "hyp_kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// One whole load or store of an aligned word, never split or repeated by the
// compiler: what the pending array's entries rely on between CPUs.
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

// MAX_LEN is the longest sequence (docs/protocol.md: N is 2..32). A power of two so
// that a masked index is provably inside ports[] for the verifier.
#define MAX_LEN 32
// K is how many sequences one pair of first ports can start, and so how many
// candidates one source can follow at once. Also a power of two.
#define K 8
// MAX_TAG_LEN is the longest tagged (v3) sequence (docs/protocol.md 10).
#define MAX_TAG_LEN 8
// TK is how many tagged sequences one source can be part-way through at once
// (users behind one address knocking together). A power of two. 8 places are
// 128 bytes a source in tag_sources, which only a live tag writes (2 MiB at
// bpf.MaxTagSources), and only a live tag's datagram walks them.
#define TK 8
// A tag is exactly this many payload bytes.
#define TAG_SIZE 8
// The pending array (see knock): PEND_WAYS entries of 8 bytes make one
// 64-byte bucket, one cache line. An entry is one __u64, read and written
// whole:
//   fingerprint (30 bits) | tick (16) | port (16) | state (2)
// tick is the coarse clock in units of 2^PEND_TICK_SHIFT ns (1.05 ms, finer
// than the coarse clock's own jiffy; 16 bits wrap after 68.7 s, past the
// longest knock timeout hypd accepts, a minute). state 0 is an empty entry.
#define PEND_WAYS 8
// pend_seen covers up to this many buckets (bpf.MaxPendBuckets).
#define PEND_MAX_BUCKETS (1 << 20)
#define PEND_SEEN_WORDS (PEND_MAX_BUCKETS / 64)
#define PEND_TICK_SHIFT 20
#define PEND_TICK_MASK 0xffff
// Only the first port of a port sequence arrived: port is that first port.
#define PEND_PENDING 1
// The first two ports matched a live pair: the source's candidates are in
// sources (port unused).
#define PEND_FOLLOWING 2
#define PE(fp, tick, port, st)                                                           \
	(((__u64)(fp) << 34) | ((__u64)((tick) & PEND_TICK_MASK) << 18) | ((__u64)(port) << 2) | \
	 ((__u64)(st) & 3))
#define PE_FP(e) ((e) >> 34)
#define PE_TICK(e) ((__u32)((e) >> 18) & PEND_TICK_MASK)
#define PE_PORT(e) ((__u16)((e) >> 2))
#define PE_STATE(e) ((__u32)(e) & 3)
// Knock datagrams carry at most this many payload bytes (docs/protocol.md 4).
#define MAX_PAYLOAD 16
#define DEFAULT_TIMEOUT_NS (5ULL * 1000 * 1000 * 1000)
// A spent sequence completed again (a replay) is reported at most once per
// this interval: the replays of one captured sequence, sent in a loop, cost
// the ring buffer one record a second, never the room a real knock needs.
#define REPLAY_REPORT_NS (1000ULL * 1000 * 1000)

// SEQ_SPENT in sequence.flags: the sequence opened once already. It stays
// loaded until its window passes, so that a replay of it is seen and
// reported (record.flags REC_REPLAY) instead of being ordinary noise.
#define SEQ_SPENT 1
#define REC_REPLAY 1

#define FAMILY_V4 4
#define FAMILY_V6 6

#define IP_MF_OFFSET 0x3fff // MF flag and fragment offset bits of frag_off

#define BPF_F_CURRENT_NETNS_ID (-1)
#define CT_DIR_REPLY 1 // IP_CT_DIR_REPLY
#define MAX_LOCAL_ADDRS 4096
// Up to this many local addresses are also kept in the settings (local),
// where a flood datagram finds them in a few compares of a line already in
// cache, instead of hashing its destination into local_addrs (about 20 ns
// live). A power of two for the verifier.
#define LOCAL_INLINE 16

#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym)                                                                     \
	({                                                                                       \
		_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
		!!sym;                                                                           \
	})
#endif

// The conntrack lookup kfunc (net/netfilter/nf_conntrack_bpf.c). Weak: where
// nf_conntrack or its BTF is missing the loader leaves it unresolved and
// bpf_ksym_exists is false, so the program still loads, without the reply
// check. Only the struct kinds must match the kernel's for the loader's type
// check; nf_conn is never dereferenced here.
struct nf_conn {
	int _opaque;
};

// bpf_ct_opts in its original 12-byte form, which every kernel with the kfunc
// accepts (newer ones also take 16 bytes with a conntrack zone).
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts, __u32 opts__sz) __ksym __weak;
extern void bpf_ct_release(struct nf_conn *ct) __ksym __weak;

// sequence is one valid knock: (key, window, counter) and its ports.
// gen is chosen by userspace, never 0 for a live slot, and new for every
// sequence written to a slot; progress remembers it, so a slot that was freed
// and reused for another sequence can never inherit a source's progress.
// flags holds SEQ_SPENT; replay_ns, written by the program only, is when a
// replay of this sequence was last reported.
struct sequence {
	__u16 ports[MAX_LEN];
	__u32 len;
	__u32 key_id;
	__u64 window;
	__u32 counter;
	__u32 gen;
	__u32 flags;
	__u32 _pad;
	__u64 replay_ns;
};

// pair lists the port-sequence slots whose first two ports are the key's
// (first << 16 | second). count is the true number of live sequences there;
// when it exceeds K only the first K can be started and the overflow counter
// says so. Random ports make that about impossible (docs/gateway.md).
struct pair {
	__u32 count;
	__u32 ids[K];
};

// tag is the value of the tags map: the 8 bytes of a live tag (as they are
// in the datagram) -> the slot of its sequence, its generation, the port the
// datagram must go to, its position and the sequence's length.
struct tag {
	__u32 id;
	__u32 gen;
	__u16 port;
	__u8 pos;
	__u8 len;
};

// A candidate is one sequence a source is part-way through, packed into one
// u64 so that it is read and written whole (an aligned 8-byte access is
// atomic): gen in the high 32 bits, then 8 bits of pos (ports matched so
// far), then a 24-bit slot id. Two datagrams from one source handled at once
// on two CPUs may lose each other's update, but every candidate anyone reads
// is one some datagram earned by matching exactly that prefix.
#define CAND(id, gen, pos) (((__u64)(gen) << 32) | ((__u64)((pos) & 0xff) << 24) | ((id) & 0xffffff))
#define CAND_ID(c) ((__u32)(c) & 0xffffff)
#define CAND_POS(c) (((__u32)(c) >> 24) & 0xff)
#define CAND_GEN(c) ((__u32)((c) >> 32))

// progress is what one source has done so far in port sequences, once its
// first two ports matched a live pair (before that the pending array holds
// its first port). start_ns is when the first port of these candidates
// arrived (rounded down to a pending tick): the whole sequence must fit in the
// timeout. n candidates follow; n = 0 is empty progress.
struct progress {
	__u64 start_ns;
	__u32 n;
	__u32 _pad;
	__u64 c[K];
};

// pend_bucket is one value of the pending array: PEND_WAYS entries (PE).
struct pend_bucket {
	__u64 e[PEND_WAYS];
};

// tag_progress is one source's progress in tagged sequences: up to TK
// candidates (0 = none), each with the time its first datagram arrived.
struct tag_progress {
	__u64 c[TK];
	__u64 start_ns[TK];
};

// addr is a source address: IPv6 as is, IPv4 as ::ffff:a.b.c.d.
struct addr {
	__u32 w[4];
};

// record is emitted once per completed sequence (for a spent one, at most
// once per REPLAY_REPORT_NS). gen lets userspace tell a record for the
// sequence it holds in seq_id from one for an earlier tenant; flags has
// REC_REPLAY when the sequence was spent.
struct record {
	__u8 addr[16];
	__u32 family;
	__u32 key_id;
	__u64 window;
	__u32 counter;
	__u32 seq_id;
	__u32 gen;
	__u32 flags;
};

// local_filter is 0 until userspace has filled local_addrs: until then every
// destination counts as the gateway's own, so no knock is missed (fail safe
// for knocks) at the price of judging forwarded traffic as before.
// raw_ifaces is the number of entries in the raw_ifaces map, so that the
// usual gateway, with none, never looks there. port_seqs and tag_seqs are 1
// while sequences of that kind are loaded: without port sequences noise
// writes no per-source state, without tagged ones no tag is looked up.
// reply_on is 0 until tc_egress watches every interface the program is on
// (and the flows before it are stamped); then a datagram is checked against
// conntrack only if its destination port is in either generation of
// reply_bits. reply_gen (0 or 1) is the generation stamps go to; userspace
// clears the other one and swaps them once per reply window.
//
// pend_seed keys the hash that places a source in the pending array (random,
// from userspace at load, never shown), so that nobody can aim spoofed
// sources at a victim's bucket; pend_mask is the number of buckets - 1 (a
// power of two). Until userspace writes them every source hashes into
// bucket 0, which still works, only with less room.
struct settings {
	__u64 timeout_ns;
	__u32 local_filter;
	__u32 raw_ifaces;
	__u32 port_seqs;
	__u32 tag_seqs;
	__u32 reply_on;
	__u32 pend_mask;
	__u64 pend_seed;
	__u32 reply_gen;
	// local_n is 0 when the local addresses are only in local_addrs, else
	// their number + 1, and local[] holds them (IPv4 as ::ffff:a.b.c.d).
	__u32 local_n;
	struct addr local[LOCAL_INLINE];
	// pend_gen (0 or 1) is the generation of pend_seen that bucket marks
	// go to; userspace clears the other one and swaps them once a minute.
	__u32 pend_gen;
	__u32 _pad;
};

// stats is per CPU; userspace sums. completions counts every completed
// sequence reported to userspace; ringbuf_drops is the subset whose record
// could not be reserved. replays_unreported counts completions of spent
// sequences not reported because one was less than REPLAY_REPORT_NS before.
// hits, resets and overflows move with a source's progress through a
// sequence, which depends on the secret: userspace shows them to root only
// (docs/protocol.md, security).
struct stats {
	__u64 seen;
	__u64 hits;
	__u64 resets;
	__u64 completions;
	__u64 overflows;
	__u64 ringbuf_drops;
	__u64 replays_unreported;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

// Sizes are placeholders: the loader sets max_entries for sequences and
// progress from its options before loading.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct sequence);
} sequences SEC(".maps");

// Port sequences by their first two ports; the loader sizes it to the number
// of slots. Preallocated, as tags, up to a size (the loader decides): a time
// step at 100,000 keys deletes and inserts 100,000 entries, and without
// prealloc each costs a kernel allocation or free.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct pair);
} pairs SEC(".maps");

// Live tags of tagged sequences: every datagram of every loaded v3 sequence.
// Keyed by the payload's 8 bytes as they are. Sized by the loader.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct tag);
} tags SEC(".maps");

// Port bitmaps: bit p%64 of word p/64. Each is 8 KiB, so it stays in cache
// under a flood, where the 2.5 MiB first_ports array would not.
//
// udp_services: UDP ports of real services; datagrams to them always pass.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} udp_services SEC(".maps");

// pair_filter: per first port, a 64-bit filter of the second ports of the
// live port sequences that start there (bit pair_bit(second)). A datagram
// after a live first port looks its pair up in pairs only if its port's bit
// is set: with 100,000 keys nearly every port is a first port, so a flood
// pays that lookup, a miss among 300,000 entries, on almost every datagram;
// the filter, 512 KiB, turns away all but about one in ten (a first port has
// ~5 live pairs of 64 bits). Userspace writes it after the pairs, from the
// same list.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} pair_filter SEC(".maps");

// pair_bit is the bit of second port p in a pair_filter word (bpf.PairBit):
// the top 6 bits of a multiplicative hash, so the hyp scheme's 256 port
// values spread over the word too.
static __always_inline __u32 pair_bit(__u16 p)
{
	return ((__u32)p * 2654435761u) >> 26;
}

// first_port_bits: ports where at least one port sequence starts.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} first_port_bits SEC(".maps");

// reply_bits: two generations of a bitmap of local UDP ports. A port's bit
// is set in the current generation (settings.reply_gen) when a UDP datagram
// leaves from it (tc_egress, after NAT: a masqueraded flow's port is the one
// on the wire) or a reply to it passes. Userspace swaps the generations once
// per reply window, clearing the one that becomes current, so a port stays
// set for one to two windows after its last datagram. A reply is possible
// only to such a port, so the conntrack lookup, the dearest step, is done
// only for those. Bitmaps, 8 KiB each, because under a flood every
// datagram's port is a random place here: in 16 KiB it stays in cache and in
// the TLB, where a per-port array of 256 KiB cost a miss a datagram (about
// 70 ns of the live figure).
struct reply_gen_bits {
	__u64 w[1024];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct reply_gen_bits);
} reply_bits SEC(".maps");

// pending: the first step of every source in the port sequences, a
// direct-mapped, PEND_WAYS-way set-associative array of buckets indexed by a
// keyed hash of the source address (see knock). Sized by the loader (a power
// of two). An array, so memory is fixed whatever an attacker sends, and a
// datagram costs one inlined lookup and at most one 8-byte store.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct pend_bucket);
} pending SEC(".maps");

// pend_seen: two generations of a bitmap of the pending array's buckets.
// Every write of an entry marks its bucket in the current generation
// (settings.pend_gen); userspace clears the older one and makes it current
// once a minute, longer than any knock timeout. So a bucket whose bit is in
// neither holds no entry written within a minute, none that can be live,
// and a datagram from a source whose bucket that is reads 8 KiB (at the
// default size) that stay in cache instead of its bucket among 4 MiB: under
// a spoofed flood, when few ports start a sequence, a miss saved a datagram.
struct pend_seen_bits {
	__u64 w[PEND_SEEN_WORDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pend_seen_bits);
} pend_seen SEC(".maps");

// Progress past the first two ports. Only a datagram whose pair of ports
// (first, this one) starts a live sequence writes here, which takes the key
// (or a 1 in 2^32 guess per live sequence): noise, spoofed or not, never
// looks here nor inserts. LRU all the same, so that whatever is inserted
// evicts the oldest progress instead of failing, memory stays bounded and a
// fresh knock always finds room.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct addr);
	__type(value, struct progress);
} sources SEC(".maps");

// Tagged progress, apart from the port sequences': written only by a
// datagram with a live tag, which an attacker without the key cannot send.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct addr);
	__type(value, struct tag_progress);
} tag_sources SEC(".maps");

// The gateway's own unicast addresses, on every interface of its network
// namespace (a knock to the LAN address arriving on the WAN side is still to
// the gateway), IPv4 as ::ffff:a.b.c.d. Userspace follows rtnetlink to keep it
// current. Broadcast and multicast addresses are never in it: they are not
// knocks.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_LOCAL_ADDRS);
	__type(key, struct addr);
	__type(value, __u8);
} local_addrs SEC(".maps");

// Interfaces (by ifindex) whose frames carry no link-layer header: PPP (a
// PPPoE uplink's ppp0), tun and WireGuard devices. XDP sees their packets
// starting at the IP header.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} raw_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} counters SEC(".maps");

// Keep record in BTF so bpf2go can generate its Go type; the ring buffer
// itself carries no value type.
const struct record *unused_record __attribute__((unused));

static __always_inline int port_bit(void *map, __u16 port)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(map, &word);
	return bits && ((*bits >> (port & 63)) & 1);
}

static __always_inline void emit(struct stats *cnt, const struct addr *src, __u32 family,
				 struct sequence *s, __u32 id)
{
	__u32 flags = 0;
	if (s->flags & SEQ_SPENT) {
		// A replay. The check and the store race between CPUs, which
		// costs at most a record per CPU: the bound is what matters.
		__u64 now = bpf_ktime_get_coarse_ns();
		__u64 last = s->replay_ns;
		if (last && now >= last && now - last < REPLAY_REPORT_NS) {
			cnt->replays_unreported++;
			return;
		}
		s->replay_ns = now;
		flags = REC_REPLAY;
	}
	cnt->completions++;
	struct record *r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		cnt->ringbuf_drops++;
		return;
	}
	__builtin_memcpy(r->addr, src->w, sizeof(r->addr));
	r->family = family;
	r->key_id = s->key_id;
	r->window = s->window;
	r->counter = s->counter;
	r->seq_id = id;
	r->gen = s->gen;
	r->flags = flags;
	bpf_ringbuf_submit(r, 0);
}

// advance moves src's live progress p on by dport. It returns 1 if dport
// completed a sequence or at least one candidate survived, 0 if none did.
static __always_inline int advance(struct stats *cnt, struct progress *p, const struct addr *src,
				   __u32 family, __u16 dport)
{
	__u32 n = 0;
	__u32 have = p->n;
	for (__u32 i = 0; i < K; i++) {
		if (i >= have)
			break;
		__u64 c = p->c[i];
		__u32 id = CAND_ID(c), pos = CAND_POS(c);
		struct sequence *s = bpf_map_lookup_elem(&sequences, &id);
		// Validate on every use: a slot deleted or reused since this
		// candidate started no longer carries its gen.
		if (!s || s->gen == 0 || s->gen != CAND_GEN(c))
			continue;
		__u32 len = s->len;
		if (len > MAX_LEN || pos >= len)
			continue;
		if (s->ports[pos & (MAX_LEN - 1)] != dport)
			continue;
		pos++;
		if (pos == len) {
			emit(cnt, src, family, s, id);
			p->n = 0;
			return 1;
		}
		// Survivors move down; i >= n, so nothing unread is
		// overwritten.
		p->c[n & (K - 1)] = CAND(id, s->gen, pos);
		n++;
	}
	if (!n)
		return 0;
	p->n = n;
	cnt->hits++;
	return 1;
}

// start_pair looks up the pair (first, dport) for a source whose pending
// entry says first was its last datagram, first seen at start_ns. It returns
// 0 if no live sequence starts with that pair, 1 if a sequence of length 2
// completed (reported), 2 if the candidates are now src's progress in
// sources. Only here does a source get an entry in sources: noise that does
// not hit a live pair never inserts into the LRU map.
static __always_inline int start_pair(struct stats *cnt, const struct addr *src, __u32 family, __u16 first,
				      __u16 dport, __u64 start_ns)
{
	__u32 fk = first;
	__u64 *fw = bpf_map_lookup_elem(&pair_filter, &fk);
	if (!fw || !((*fw >> pair_bit(dport)) & 1))
		return 0;
	__u32 key = ((__u32)first << 16) | dport;
	struct pair *pr = bpf_map_lookup_elem(&pairs, &key);
	if (!pr)
		return 0;
	__u32 count = pr->count;
	if (count > K)
		cnt->overflows++;
	struct progress next = {.start_ns = start_ns};
	__u32 n = 0;
	for (__u32 i = 0; i < K; i++) {
		if (i >= count)
			break;
		__u32 id = pr->ids[i];
		struct sequence *s = bpf_map_lookup_elem(&sequences, &id);
		// The pair entry is rewritten after the slot, so check the
		// slot really starts with this pair.
		if (!s || s->gen == 0 || s->len < 2 || s->len > MAX_LEN || s->ports[0] != first ||
		    s->ports[1] != dport)
			continue;
		if (s->len == 2) {
			emit(cnt, src, family, s, id);
			return 1;
		}
		next.c[n & (K - 1)] = CAND(id, s->gen, 2);
		n++;
	}
	if (!n)
		return 0;
	cnt->hits++;
	struct progress *p = bpf_map_lookup_elem(&sources, src);
	if (p) {
		// In place: an LRU update allocates a node. n first and last,
		// so a concurrent reader never sees old candidates with the
		// new start.
		p->n = 0;
		p->start_ns = start_ns;
		for (__u32 i = 0; i < K; i++)
			p->c[i] = next.c[i];
		p->n = n;
		return 2;
	}
	next.n = n;
	// Fails only without memory: then this knock is lost like one whose
	// second datagram was.
	if (bpf_map_update_elem(&sources, src, &next, BPF_ANY))
		return 0;
	return 2;
}

// mix64 is MurmurHash3's 64-bit finaliser: a bijection in which every input
// bit flips each output bit with probability about 1/2.
static __always_inline __u64 mix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

// pend_hash is the keyed hash of a source address (bpf.PendHash is the same
// in Go): its low bits pick the bucket of the pending array, its top 30 bits
// are the entry's fingerprint. The seed is secret and nothing the program
// does answers the sender, so an attacker cannot choose sources that share a
// victim's bucket: spoofed datagrams land in buckets uniformly at random.
// Not a cryptographic MAC, and need not be: a collision costs a knock a
// retry at worst, never opens anything (see knock).
static __always_inline __u64 pend_hash(__u64 seed, const struct addr *a)
{
	__u64 lo = ((__u64)a->w[0] << 32) | a->w[1];
	__u64 hi = ((__u64)a->w[2] << 32) | a->w[3];
	return mix64(mix64(seed ^ lo ^ 0x9e3779b97f4a7c15ULL) ^ hi);
}

// pend_age is how many ticks ago entry tick t was stored, tick being now's.
// Another CPU may have stored a tick just after this one read the clock: a
// tick from the (near) future is age 0.
static __always_inline __u32 pend_age(__u64 tick, __u32 t)
{
	__u32 d = ((__u32)tick - t) & PEND_TICK_MASK;
	return d > PEND_TICK_MASK - 16 ? 0 : d;
}

// pend_victim picks the entry of a full bucket that a new source's first
// port replaces: an empty one, else the oldest of the pending and timed-out
// entries, else (every entry follows a live pair) the oldest. A source
// following a live pair is protected from noise so: only a key holder's
// datagrams make such entries.
static __always_inline __u32 pend_victim(struct pend_bucket *b, __u64 tick, __u64 timeout)
{
	__u32 tmo = (__u32)(timeout >> PEND_TICK_SHIFT) + 1;
	__u32 best = 0, best_score = 0;
	for (__u32 i = 0; i < PEND_WAYS; i++) {
		__u64 e = READ_ONCE(b->e[i]);
		if (!PE_STATE(e))
			return i;
		__u32 d = pend_age(tick, PE_TICK(e));
		__u32 score = d + 1;
		if (PE_STATE(e) != PEND_FOLLOWING || d > tmo)
			score += 1 << 17;
		if (score > best_score) {
			best_score = score;
			best = i;
		}
	}
	return best;
}

// pend_find returns the place of fingerprint fp's entry in b (PEND_WAYS:
// none) and the entry in *oe, clearing any duplicate of it (see knock).
static __always_inline __u32 pend_find(struct pend_bucket *b, __u64 fp, __u64 *oe)
{
	__u32 own = PEND_WAYS;
	for (__u32 i = 0; i < PEND_WAYS; i++) {
		__u64 e = READ_ONCE(b->e[i]);
		if (!PE_STATE(e) || PE_FP(e) != fp)
			continue;
		if (own == PEND_WAYS) {
			own = i;
			*oe = e;
		} else {
			WRITE_ONCE(b->e[i], 0); // a duplicate (see knock)
		}
	}
	return own;
}

// pend_mark marks bucket bit of word wi in sb, pend_seen's current generation
// (already looked up by the caller).
static __always_inline void pend_mark(struct pend_seen_bits *sb, __u32 wi, __u64 bit)
{
	// Atomic: another CPU may be marking another bucket of this word.
	if (!(READ_ONCE(sb->w[wi]) & bit))
		__sync_fetch_and_or(&sb->w[wi], bit);
}

// knock handles one datagram (already known to be dropped) from src to dport
// for the port sequences. docs/protocol.md 5: live progress advances only the
// candidates whose next port is exactly dport; if none survives, progress
// resets and dport is tried as a first port. So completing a sequence needs
// its ports as consecutive datagrams from one source, which no sweep of
// distinct ports can supply except for a sequence that is itself a run of the
// sweep's order.
//
// A source's state lives in two places:
//  - its entry in the pending array: the bucket (of PEND_WAYS entries) that
//    the keyed hash of its address picks, the entry whose fingerprint is the
//    hash's top bits. PEND_PENDING: its last datagram went to first port
//    `port` at `tick`. PEND_FOLLOWING: its first two ports matched a live
//    pair, its candidates are in sources.
//  - its progress in the LRU map sources, written only when a pair matched.
// So noise costs no hash-map insert or lookup at all: a random datagram reads
// one bucket (one cache line), and stores one entry if dport is a live
// first port; from one source it also looks its pair up in pairs (as any
// second datagram must). Memory is the array's, whatever is sent.
//
// What can go wrong, and why it is safe:
//  - Other sources' first ports overwrite a knock's pending entry between its
//    datagrams: a new entry replaces the oldest pending one of its bucket, so
//    that takes PEND_WAYS first ports from other sources in that one bucket
//    within the gap. Spoofed sources fall in buckets uniformly (the hash is
//    keyed): at R such datagrams a second, a gap g and B buckets they are
//    Poisson with mean R*g/B a bucket; at 1 Mpps, 10 ms and 65,536 buckets
//    0.15, and P(>= 8) is about 6e-12; at 14.9 Mpps (10 Gb/s of the
//    smallest frames) 2.3 and 2.4e-3 (docs/gateway.md). The knock then fails
//    as if a datagram was lost, and the client retries. A source already
//    following a live pair is not replaced by any pending entry while one is
//    left in its bucket. (The LRU map, which every source's first port used
//    to insert into, lost a knock's progress once more than its 65,536
//    entries of other sources came between two of its datagrams: never at
//    1 Mpps, always at 14.9 Mpps.)
//  - Two sources with one bucket and one fingerprint (2^-46 for a given
//    pair, for IPv6 as for IPv4; nobody can find one without the seed) share
//    the entry. PEND_PENDING then says "first port F arrived" for a source
//    that did not send F: its next datagram's pair (F, dport) is looked up.
//    That earns it nothing it could not have by sending F itself, one
//    datagram to a port it would have to know; every further port must still
//    come, in order, from its own address. PEND_FOLLOWING only leads to a
//    lookup in sources by the whole address, whose progress is the source's
//    own (or none).
//  - Two CPUs: each entry is one aligned 8-byte word, read once and written
//    whole, so no datagram ever sees a torn entry (a fingerprint from one
//    write with the port of another). Two datagrams of one source at once
//    may lose one's write, as two of a knock reordered would; both finding
//    no entry may store two, and the next datagram of that source keeps the
//    first and clears the other. A concurrent store between a read and a
//    write-back of one entry replaces a state some datagram earned with
//    another some datagram earned.
//  - tick wraps after 68.7 s: an entry older than that can look fresh. A
//    stale PEND_PENDING is the case above (a pair lookup); a stale
//    PEND_FOLLOWING finds sources' own start_ns, which is exact.
// The timeout runs from the first datagram's tick, rounded down: a knock has
// its timeout less at most one tick (1.05 ms), never more.
static __always_inline void knock(struct stats *cnt, const struct settings *cfg, const struct addr *src,
				  __u32 family, __u16 dport)
{
	__u64 seed = 0, timeout = DEFAULT_TIMEOUT_NS;
	__u32 mask = 0;
	if (cfg) {
		seed = cfg->pend_seed;
		mask = cfg->pend_mask;
		if (cfg->timeout_ns)
			timeout = cfg->timeout_ns;
	}
	__u64 h = pend_hash(seed, src);
	__u32 idx = (__u32)h & mask;
	__u64 fp = PE_FP(h);
	__u32 wi = (idx >> 6) & (PEND_SEEN_WORDS - 1);
	__u64 bit = 1ULL << (idx & 63);
	__u32 k0 = 0, k1 = 1;
	struct pend_seen_bits *s0 = bpf_map_lookup_elem(&pend_seen, &k0);
	struct pend_seen_bits *s1 = bpf_map_lookup_elem(&pend_seen, &k1);
	if (!s0 || !s1)
		return;
	struct pend_seen_bits *cur = (cfg && (cfg->pend_gen & 1)) ? s1 : s0;
	struct pend_bucket *b = 0;
	__u32 own = PEND_WAYS;
	__u64 oe = 0;
	// A bucket marked in neither generation holds nothing live (see
	// pend_seen): the source has no state, and its bucket is read only if
	// this datagram writes an entry.
	if ((s0->w[wi] | s1->w[wi]) & bit) {
		b = bpf_map_lookup_elem(&pending, &idx);
		if (!b)
			return;
		own = pend_find(b, fp, &oe);
	}

	// The coarse clock (one tick, 1 to 10 ms, against a timeout of
	// seconds) reads the time the last tick stored instead of the clock
	// source: about 20 ns less a datagram in a VM. Read only when needed.
	__u64 now = 0;
	if (own < PEND_WAYS) {
		now = bpf_ktime_get_coarse_ns();
		__u64 tick = now >> PEND_TICK_SHIFT;
		__u64 start = (tick - pend_age(tick, PE_TICK(oe))) << PEND_TICK_SHIFT;
		if (now - start <= timeout) {
			if (PE_STATE(oe) == PEND_PENDING) {
				int r = start_pair(cnt, src, family, PE_PORT(oe), dport, start);
				if (r == 1) {
					WRITE_ONCE(b->e[own & (PEND_WAYS - 1)], 0);
					return;
				}
				if (r == 2) {
					WRITE_ONCE(b->e[own & (PEND_WAYS - 1)], PE(fp, PE_TICK(oe), 0, PEND_FOLLOWING));
					pend_mark(cur, wi, bit);
					return;
				}
				cnt->resets++;
			} else {
				struct progress *p = bpf_map_lookup_elem(&sources, src);
				if (p && p->n) {
					// now < start_ns: another CPU stored it
					// after we read the clock.
					if (now < p->start_ns || now - p->start_ns <= timeout) {
						if (advance(cnt, p, src, family, dport)) {
							if (!p->n)
								WRITE_ONCE(b->e[own & (PEND_WAYS - 1)], 0);
							return;
						}
						cnt->resets++;
					}
					p->n = 0;
				}
			}
		}
	}

	if (!port_bit(&first_port_bits, dport)) {
		if (b && own < PEND_WAYS)
			WRITE_ONCE(b->e[own & (PEND_WAYS - 1)], 0);
		return;
	}
	cnt->hits++;
	if (!now)
		now = bpf_ktime_get_coarse_ns();
	if (!b) {
		b = bpf_map_lookup_elem(&pending, &idx);
		if (!b)
			return;
		// An entry of this source older than any timeout may still be
		// there: reused, so it cannot stand as a duplicate before the
		// new one.
		own = pend_find(b, fp, &oe);
	}
	__u64 tick = now >> PEND_TICK_SHIFT;
	__u64 ne = PE(fp, tick, dport, PEND_PENDING);
	if (own >= PEND_WAYS)
		own = pend_victim(b, tick, timeout);
	WRITE_ONCE(b->e[own & (PEND_WAYS - 1)], ne);
	pend_mark(cur, wi, bit);
}

// tag_done emits the record of tagged sequence id if its slot still holds it.
static __always_inline void tag_done(struct stats *cnt, const struct addr *src, __u32 family, __u32 id,
				     __u32 gen, __u32 len)
{
	struct sequence *s = bpf_map_lookup_elem(&sequences, &id);
	if (!s || s->gen == 0 || s->gen != gen || s->len != len)
		return;
	emit(cnt, src, family, s, id);
}

// tag_start_place picks the place in p where a first datagram of sequence
// (id, gen) starts its candidate, or returns TK: start none. In order:
//  1. the place where that sequence is at position 1 (its first datagram
//     seen again: a retry, or a copy): restarted there, so copies never take
//     more than one place;
//  2. an empty or timed-out place;
//  3. none if the sequence is further along in a place: a retry needs no
//     second place while that one lives (it resends the datagram that
//     candidate waits for), and a copy of datagram 0 must push nobody out;
//  4. the oldest candidate at position 1, one that has seen only its first
//     datagram;
//  5. every place is further along: the oldest.
// A candidate further along (datagram 1 or more matched) is never restarted
// by a first datagram, not even of its own sequence: datagram 0 is the one an
// observer sees first and can copy from the client's address, and each
// datagram of a knock is worth more than the last. So a copied or retried
// datagram 0 costs a knock in progress nothing, and pushing one out takes
// TK - 1 other live sequences past their first datagram from that address
// and then a first datagram of yet another (docs/protocol.md 10). Step 5 keeps a fresh start always possible:
// refusing it would let whoever holds TK places further along keep that
// address from starting any knock, by renewing them. Oldest is by the coarse
// clock: of candidates started in one tick, the lowest place goes.
static __always_inline __u32 tag_start_place(const struct tag_progress *p, __u32 id, __u32 gen, __u64 now,
					     __u64 timeout)
{
	__u32 free = TK, young = TK, old = TK, along = 0;
	__u64 young_st = ~0ULL, old_st = ~0ULL;
	for (__u32 i = 0; i < TK; i++) {
		__u64 ci = p->c[i];
		__u64 st = p->start_ns[i];
		int same = ci && CAND_ID(ci) == id && CAND_GEN(ci) == gen;
		if (same && CAND_POS(ci) == 1)
			return i;
		// now < st: another CPU stored it after we read the clock.
		if (!ci || (now >= st && now - st > timeout)) {
			if (free == TK)
				free = i;
			continue;
		}
		if (same)
			along = 1;
		if (CAND_POS(ci) <= 1 && st < young_st) {
			young_st = st;
			young = i;
		}
		if (st < old_st) {
			old_st = st;
			old = i;
		}
	}
	if (free != TK)
		return free;
	if (along)
		return TK;
	if (young != TK)
		return young;
	return old;
}

// tag_knock handles a datagram whose payload is the live tag t. docs/protocol.md
// 10: datagram 0 of a sequence starts a candidate (tag_start_place says
// where); datagram i > 0 advances only a candidate at exactly (that sequence,
// i) started within the timeout; anything else changes nothing, so no
// datagram resets tagged progress.
static __always_inline void tag_knock(struct stats *cnt, const struct settings *cfg, const struct addr *src,
				      __u32 family, __u16 dport, const struct tag *t)
{
	__u32 id = t->id, gen = t->gen, pos = t->pos, len = t->len;
	// A tag counts only at its own port.
	if (t->port != dport || gen == 0 || len == 0 || len > MAX_TAG_LEN || pos >= len)
		return;
	if (len == 1) {
		cnt->hits++;
		tag_done(cnt, src, family, id, gen, len);
		return;
	}
	__u64 now = bpf_ktime_get_coarse_ns();
	struct tag_progress *p = bpf_map_lookup_elem(&tag_sources, src);
	__u64 timeout = DEFAULT_TIMEOUT_NS;
	if (cfg && cfg->timeout_ns)
		timeout = cfg->timeout_ns;
	if (pos == 0) {
		cnt->hits++;
		__u64 c = CAND(id, gen, 1);
		if (!p) {
			struct tag_progress fresh = {};
			fresh.c[0] = c;
			fresh.start_ns[0] = now;
			bpf_map_update_elem(&tag_sources, src, &fresh, BPF_ANY);
			return;
		}
		__u32 pick = tag_start_place(p, id, gen, now, timeout);
		if (pick >= TK)
			return;
		pick &= TK - 1;
		p->c[pick] = 0;
		p->start_ns[pick] = now;
		p->c[pick] = c;
		return;
	}
	if (!p)
		return;
	// Two places can hold the sequence at one position (a retry caught up
	// with the first try): a timed-out one is cleared and the search goes
	// on, so the live one still advances.
	for (__u32 i = 0; i < TK; i++) {
		__u64 ci = p->c[i];
		if (!ci || CAND_ID(ci) != id || CAND_GEN(ci) != gen || CAND_POS(ci) != pos)
			continue;
		__u64 st = p->start_ns[i];
		if (now >= st && now - st > timeout) {
			p->c[i] = 0;
			continue;
		}
		cnt->hits++;
		if (pos + 1 < len) {
			p->c[i] = CAND(id, gen, pos + 1);
			return;
		}
		// Done: no place of this sequence is needed any more.
		for (__u32 j = 0; j < TK; j++) {
			__u64 cj = p->c[j];
			if (cj && CAND_ID(cj) == id && CAND_GEN(cj) == gen)
				p->c[j] = 0;
		}
		tag_done(cnt, src, family, id, gen, len);
		return;
	}
}

// to_gateway says whether dst is one of the gateway's own addresses. A router
// forwards datagrams to hosts behind it (TFTP ACKs, NAT-T and SIP keepalives):
// those are not knocks and must not be harmed.
static __always_inline int to_gateway(const struct settings *cfg, const struct addr *dst)
{
	if (!cfg || !cfg->local_filter)
		return 1;
	__u32 n = cfg->local_n;
	if (n == 0 || n > LOCAL_INLINE + 1)
		return bpf_map_lookup_elem(&local_addrs, dst) != NULL;
	for (__u32 i = 0; i < LOCAL_INLINE; i++) {
		if (i + 1 >= n)
			break;
		const struct addr *a = &cfg->local[i];
		// The last word first: for IPv4 it is the only one that differs.
		if (a->w[3] == dst->w[3] && a->w[2] == dst->w[2] && a->w[1] == dst->w[1] && a->w[0] == dst->w[0])
			return 1;
	}
	return 0;
}

// is_reply says whether the datagram is a reply in a flow conntrack already
// knows in the other direction: one the gateway started (its resolver's DNS
// reply, an NTP answer) or one NAT maps to a host behind it. Such a datagram
// answers something the gateway or its LAN sent, so it cannot be a client's
// knock, and dropping it would break ordinary traffic. Only the reply
// direction counts: an entry a remote host created by its own earlier datagram
// would let a source exempt itself, and a knock never starts a reply.
// Without the kfunc (no nf_conntrack BTF) nothing is exempt.
static __always_inline int is_reply(struct xdp_md *ctx, struct bpf_sock_tuple *tup, __u32 tup_sz)
{
	if (!bpf_ksym_exists(bpf_xdp_ct_lookup) || !bpf_ksym_exists(bpf_ct_release))
		return 0;
	struct bpf_ct_opts opts = {.netns_id = BPF_F_CURRENT_NETNS_ID, .l4proto = IPPROTO_UDP};
	struct nf_conn *ct = bpf_xdp_ct_lookup(ctx, tup, tup_sz, &opts, sizeof(opts));
	if (!ct)
		return 0;
	int reply = opts.dir == CT_DIR_REPLY;
	bpf_ct_release(ct);
	return reply;
}

// stamp notes that a datagram left from, or a reply came to, local port port.
static __always_inline void stamp(const struct settings *cfg, __u16 port)
{
	__u32 gen = cfg ? cfg->reply_gen & 1 : 0;
	struct reply_gen_bits *g = bpf_map_lookup_elem(&reply_bits, &gen);
	if (!g)
		return;
	__u64 *w = &g->w[(port >> 6) & 1023];
	__u64 bit = 1ULL << (port & 63);
	// Atomic: another CPU may be stamping another port of this word. Read
	// first, so a busy port does not bounce the line between CPUs.
	if (!(READ_ONCE(*w) & bit))
		__sync_fetch_and_or(w, bit);
}

// may_be_reply says whether a datagram to local port port can be a reply in
// a flow conntrack knows: always, unless tc_egress is watching (reply_on) and
// port has had no UDP traffic out (or replies in) for a reply window.
static __always_inline int may_be_reply(const struct settings *cfg, __u16 port)
{
	if (!cfg || !cfg->reply_on)
		return 1;
	__u32 k0 = 0, k1 = 1;
	struct reply_gen_bits *g0 = bpf_map_lookup_elem(&reply_bits, &k0);
	struct reply_gen_bits *g1 = bpf_map_lookup_elem(&reply_bits, &k1);
	if (!g0 || !g1)
		return 1;
	__u32 i = (port >> 6) & 1023;
	return ((g0->w[i] | g1->w[i]) >> (port & 63)) & 1;
}

SEC("xdp")
int xdp_knock(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct settings *cfg = bpf_map_lookup_elem(&config, &zero);
	__u32 ifindex = ctx->ingress_ifindex;

	__be16 proto;
	void *l3;
	if (cfg && cfg->raw_ifaces && bpf_map_lookup_elem(&raw_ifaces, &ifindex)) {
		// No link-layer header: the IP version nibble says which.
		__u8 *v = data;
		if ((void *)(v + 1) > end)
			return XDP_PASS;
		if ((*v >> 4) == 4)
			proto = bpf_htons(ETH_P_IP);
		else if ((*v >> 4) == 6)
			proto = bpf_htons(ETH_P_IPV6);
		else
			return XDP_PASS;
		l3 = data;
	} else {
		struct ethhdr *eth = data;
		if ((void *)(eth + 1) > end)
			return XDP_PASS;
		proto = eth->h_proto;
		l3 = eth + 1;
		// One 802.1Q or 802.1ad tag. Doubly tagged frames pass
		// untouched: the stack has no address for them unless a VLAN
		// device unwraps them, and XDP on that device then sees them
		// with one tag fewer.
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			struct vlan_hdr *vh = l3;
			if ((void *)(vh + 1) > end)
				return XDP_PASS;
			proto = vh->proto;
			l3 = vh + 1;
		}
	}

	struct addr src = {}, dst = {};
	struct bpf_sock_tuple tup = {};
	__u32 tup_sz;
	__u32 family;
	struct udphdr *udp;
	__u32 l4len; // bytes the IP header says follow it

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		if (ip->version != 4 || ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
			return XDP_PASS;
		// A fragment is never a knock: knocks are tiny and sent whole,
		// and only the first fragment carries the ports.
		if (ip->frag_off & bpf_htons(IP_MF_OFFSET))
			return XDP_PASS;
		__u32 hlen = ip->ihl * 4;
		__u32 tot = bpf_ntohs(ip->tot_len);
		if (tot < hlen + sizeof(*udp))
			return XDP_PASS;
		// Truncated frames pass: the stack discards them.
		if ((void *)ip + tot > end)
			return XDP_PASS;
		udp = (void *)ip + hlen;
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		l4len = tot - hlen;
		family = FAMILY_V4;
		src.w[2] = bpf_htonl(0xffff);
		src.w[3] = ip->saddr;
		dst.w[2] = bpf_htonl(0xffff);
		dst.w[3] = ip->daddr;
		tup.ipv4.saddr = ip->saddr;
		tup.ipv4.daddr = ip->daddr;
		tup.ipv4.sport = udp->source;
		tup.ipv4.dport = udp->dest;
		tup_sz = sizeof(tup.ipv4);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		// Only UDP straight after the fixed header. Any extension
		// header (hop-by-hop, routing, destination options, and the
		// fragment header in particular) makes the datagram not a
		// knock: clients never send them.
		if (ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;
		__u32 plen = bpf_ntohs(ip6->payload_len);
		if (plen < sizeof(*udp))
			return XDP_PASS;
		if ((void *)(ip6 + 1) + plen > end)
			return XDP_PASS;
		udp = (void *)(ip6 + 1);
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		l4len = plen;
		family = FAMILY_V6;
		__builtin_memcpy(src.w, ip6->saddr.in6_u.u6_addr32, sizeof(src.w));
		// A v4-mapped source on the wire is no real IPv6 host (the
		// stack discards it): never a knock, and it must not share the
		// progress of, or open a grant for, the IPv4 address.
		if (src.w[0] == 0 && src.w[1] == 0 && src.w[2] == bpf_htonl(0xffff))
			return XDP_PASS;
		__builtin_memcpy(dst.w, ip6->daddr.in6_u.u6_addr32, sizeof(dst.w));
		// Nor is a v4-mapped destination the gateway's, though its key
		// is that of the IPv4 address.
		if (dst.w[0] == 0 && dst.w[1] == 0 && dst.w[2] == bpf_htonl(0xffff))
			return XDP_PASS;
		__builtin_memcpy(tup.ipv6.saddr, ip6->saddr.in6_u.u6_addr32, sizeof(tup.ipv6.saddr));
		__builtin_memcpy(tup.ipv6.daddr, ip6->daddr.in6_u.u6_addr32, sizeof(tup.ipv6.daddr));
		tup.ipv6.sport = udp->source;
		tup.ipv6.dport = udp->dest;
		tup_sz = sizeof(tup.ipv6);
	} else {
		return XDP_PASS;
	}

	__u32 ulen = bpf_ntohs(udp->len);
	if (ulen < sizeof(*udp) || ulen > l4len)
		return XDP_PASS;
	if (ulen - sizeof(*udp) > MAX_PAYLOAD)
		return XDP_PASS;

	__u16 dport = bpf_ntohs(udp->dest);
	if (port_bit(&udp_services, dport))
		return XDP_PASS;
	if (!to_gateway(cfg, &dst))
		return XDP_PASS;
	struct stats *cnt = bpf_map_lookup_elem(&counters, &zero);
	if (!cnt)
		return XDP_DROP;

	// A live tag makes the datagram a knock (a false match is one in
	// 2^64 per live tag), so it needs no reply check.
	void *payload = (void *)(udp + 1);
	if (ulen - sizeof(*udp) == TAG_SIZE && cfg && cfg->tag_seqs && payload + TAG_SIZE <= end) {
		__u64 key;
		__builtin_memcpy(&key, payload, TAG_SIZE);
		struct tag *t = bpf_map_lookup_elem(&tags, &key);
		if (t) {
			cnt->seen++;
			tag_knock(cnt, cfg, &src, family, dport, t);
			return XDP_DROP;
		}
	}

	// Last, as the dearest test: only datagrams that would be dropped, to
	// a port that can have a reply, pay.
	if (may_be_reply(cfg, dport) && is_reply(ctx, &tup, tup_sz)) {
		// A flow whose replies alone keep conntrack's entry alive
		// stays exempt as long.
		stamp(cfg, dport);
		return XDP_PASS;
	}

	cnt->seen++;
	if (!cfg || cfg->port_seqs)
		knock(cnt, cfg, &src, family, dport);
	return XDP_DROP;
}

// tc_egress runs on the egress of every interface xdp_knock is attached to
// and stamps the UDP source port of each datagram leaving there (reply_bits).
// It only reads; every packet goes on unchanged.
SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	// bpf_skb_load_bytes, not packet pointers: it reads headers in paged
	// data too, where pulling them in would unclone (copy) every TCP
	// segment on its way out.
	__u32 zero = 0;
	__u32 ifindex = skb->ifindex;
	struct settings *cfg = bpf_map_lookup_elem(&config, &zero);
	__u32 off = 0;
	if (!cfg || !cfg->raw_ifaces || !bpf_map_lookup_elem(&raw_ifaces, &ifindex)) {
		__be16 proto;
		if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
			return TCX_NEXT;
		off = sizeof(struct ethhdr);
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
			off += sizeof(struct vlan_hdr);
	}
	__u8 version;
	if (bpf_skb_load_bytes(skb, off, &version, 1))
		return TCX_NEXT;
	version >>= 4;
	if (version == 4) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return TCX_NEXT;
		// Later fragments carry no ports; the first one does.
		if (ip.protocol != IPPROTO_UDP || ip.ihl < 5 || (ip.frag_off & bpf_htons(0x1fff)))
			return TCX_NEXT;
		off += ip.ihl * 4;
	} else if (version == 6) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return TCX_NEXT;
		if (ip6.nexthdr != IPPROTO_UDP)
			return TCX_NEXT;
		off += sizeof(ip6);
	} else {
		return TCX_NEXT;
	}
	__be16 sport;
	if (bpf_skb_load_bytes(skb, off, &sport, sizeof(sport)))
		return TCX_NEXT;
	stamp(cfg, bpf_ntohs(sport));
	return TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

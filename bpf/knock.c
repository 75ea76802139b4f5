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
//   candidate resets it. The first datagram only notes its port (pending);
//   the second looks the pair of ports up, so no count of sequences at one
//   first port limits which can start.
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
// pending in progress: the first port of a port sequence arrived.
#define PENDING 0x10000
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

// progress is what one source has done so far in port sequences. start_ns is
// when the first port of these candidates arrived: the whole sequence must fit
// in the timeout. pending (PENDING | port) says only a first port arrived;
// else n candidates follow. n = 0 and pending = 0 is empty progress.
struct progress {
	__u64 start_ns;
	__u32 n;
	__u32 pending;
	__u64 c[K];
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
// reply_jiffies is 0 until tc_egress watches every interface the program is
// on; then a datagram is checked against conntrack only if its destination
// port sent or received a UDP datagram within that many jiffies (see
// reply_ports).
struct settings {
	__u64 timeout_ns;
	__u32 local_filter;
	__u32 raw_ifaces;
	__u32 port_seqs;
	__u32 tag_seqs;
	__u32 reply_jiffies;
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

// first_port_bits: ports where at least one port sequence starts.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} first_port_bits SEC(".maps");

// reply_ports: per local UDP port, the jiffies (low 32 bits, | 1) when a UDP
// datagram last left from it (tc_egress, after NAT: a masqueraded flow's
// port is the one on the wire) or a reply to it passed. A reply is possible
// only to such a port, so the conntrack lookup, the dearest step, is done
// only for those: a random-port flood pays one array read instead. 256 KiB.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} reply_ports SEC(".maps");

// LRU because sources are attacker-chosen (and spoofable): a flood of new
// sources evicts the oldest progress instead of failing inserts, so memory
// stays bounded and a fresh knock always finds room.
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

// start_pair moves a source whose pending first port was first on by dport:
// the candidates are the sequences that start with (first, dport). It returns
// 1 if dport completed a sequence or started at least one candidate.
static __always_inline int start_pair(struct stats *cnt, struct progress *p, const struct addr *src,
				      __u32 family, __u16 first, __u16 dport)
{
	__u32 key = ((__u32)first << 16) | dport;
	struct pair *pr = bpf_map_lookup_elem(&pairs, &key);
	if (!pr)
		return 0;
	__u32 count = pr->count;
	if (count > K)
		cnt->overflows++;
	__u64 next[K] = {};
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
			p->pending = 0;
			p->n = 0;
			return 1;
		}
		next[n & (K - 1)] = CAND(id, s->gen, 2);
		n++;
	}
	if (!n)
		return 0;
	for (__u32 i = 0; i < K; i++)
		p->c[i] = next[i];
	p->n = n;
	p->pending = 0;
	cnt->hits++;
	return 1;
}

// knock handles one datagram (already known to be dropped) from src to dport
// for the port sequences. docs/protocol.md 5: live progress advances only the
// candidates whose next port is exactly dport; if none survives, progress
// resets and dport is tried as a first port. So completing a sequence needs
// its ports as consecutive datagrams from one source, which no sweep of
// distinct ports can supply except for a sequence that is itself a run of the
// sweep's order.
//
// An existing entry is updated in place rather than replaced or deleted:
// an LRU update allocates a node and a delete takes the bucket lock, which
// would make every knock-sized datagram of a flood several times dearer.
static __always_inline void knock(struct stats *cnt, const struct settings *cfg, const struct addr *src,
				  __u32 family, __u16 dport)
{
	// Read only when needed. The coarse clock (one tick, 1 to 10 ms,
	// against a timeout of seconds) reads the time the last tick stored
	// instead of the clock source: about 20 ns less a datagram in a VM.
	__u64 now = 0;
	struct progress *p = bpf_map_lookup_elem(&sources, src);
	int live = p && (p->n || p->pending);
	if (live) {
		__u64 timeout = DEFAULT_TIMEOUT_NS;
		if (cfg && cfg->timeout_ns)
			timeout = cfg->timeout_ns;
		now = bpf_ktime_get_coarse_ns();
		// now < start_ns happens when another CPU stored the entry
		// after we read the clock: that progress is fresh.
		if (now < p->start_ns || now - p->start_ns <= timeout) {
			__u32 pending = p->pending;
			if (pending) {
				if (start_pair(cnt, p, src, family, pending & 0xffff, dport))
					return;
			} else if (advance(cnt, p, src, family, dport)) {
				return;
			}
			cnt->resets++;
		}
	}

	if (!port_bit(&first_port_bits, dport)) {
		if (live) {
			p->n = 0;
			p->pending = 0;
		}
		return;
	}
	cnt->hits++;
	if (!now)
		now = bpf_ktime_get_coarse_ns();
	if (p) {
		// n first, pending last, so a concurrent reader never sees
		// old candidates with the new start.
		p->n = 0;
		p->start_ns = now;
		p->pending = PENDING | dport;
		return;
	}
	struct progress fresh = {.start_ns = now, .pending = PENDING | dport};
	bpf_map_update_elem(&sources, src, &fresh, BPF_ANY);
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
	return bpf_map_lookup_elem(&local_addrs, dst) != NULL;
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
static __always_inline void stamp(__u16 port)
{
	__u32 key = port;
	__u32 *st = bpf_map_lookup_elem(&reply_ports, &key);
	if (st) {
		__u32 now = (__u32)bpf_jiffies64() | 1;
		if (*st != now)
			*st = now;
	}
}

// may_be_reply says whether a datagram to local port port can be a reply in
// a flow conntrack knows: always, unless tc_egress is watching (reply_jiffies
// set) and port has had no UDP traffic out (or replies in) for longer than
// any conntrack UDP timeout.
static __always_inline int may_be_reply(const struct settings *cfg, __u16 port)
{
	if (!cfg || !cfg->reply_jiffies)
		return 1;
	__u32 key = port;
	__u32 *st = bpf_map_lookup_elem(&reply_ports, &key);
	if (!st)
		return 1;
	__u32 last = *st;
	// | 1 as stamps are: an even now would read a stamp of this very
	// jiffy as from the future.
	return last && ((__u32)bpf_jiffies64() | 1) - last <= cfg->reply_jiffies;
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
		stamp(dport);
		return XDP_PASS;
	}

	cnt->seen++;
	if (!cfg || cfg->port_seqs)
		knock(cnt, cfg, &src, family, dport);
	return XDP_DROP;
}

// tc_egress runs on the egress of every interface xdp_knock is attached to
// and stamps the UDP source port of each datagram leaving there (reply_ports).
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
	stamp(bpf_ntohs(sport));
	return TCX_NEXT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

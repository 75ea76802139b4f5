// Package sequence turns a key and a time step into knock ports, for the three
// schemes of docs/protocol.md: v2 (HMAC-SHA-256, configurable length and port
// range, a use counter per window), v3 (v2's construction bound to a realm,
// the gateway's name, with an 8-byte tag in every datagram so a gateway
// recognises a knock from its first datagram) and hyp (bit-for-bit the
// reference hyp client, HMAC-SHA-1, four ports that only vary in the high
// byte; kept for migration).
//
// Client and daemon share this code so they cannot drift; the vectors in
// core/testdata pin the output.
package sequence

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"unicode"
	"unicode/utf8"

	"github.com/hideyourports/hyp/core/psk"
)

// Scheme names a way to derive ports.
type Scheme string

// The schemes of docs/protocol.md sections 2 and 3.
const (
	V2  Scheme = "v2"
	V3  Scheme = "v3"
	Hyp Scheme = "hyp"
)

// Limits on Params. MaxSkew and MaxUses bound the work a daemon does per key
// per step (Candidates returns (2*skew+1)*uses sequences).
const (
	MinLength = 2
	MaxLength = 32
	MinStep   = 1
	MaxStep   = 3600
	MaxSkew   = 10
	MaxUses   = 1024

	// v3 datagrams each carry a 64-bit tag, so one or two of them say
	// more than a v2 sequence of 32; the cap bounds the gateway's tag
	// table (one entry per datagram of every live sequence).
	MinLengthV3 = 1
	MaxLengthV3 = 8
	// MaxRealm is the longest realm, in bytes of UTF-8.
	MaxRealm = 64
	// TagSize is the payload of a v3 datagram: its tag.
	TagSize = 8

	hypLength = 4
	hypStep   = 30
)

// ParseScheme accepts "v2", "v3" or "hyp" (any case).
func ParseScheme(s string) (Scheme, error) {
	switch Scheme(lower(s)) {
	case V2:
		return V2, nil
	case V3:
		return V3, nil
	case Hyp:
		return Hyp, nil
	}
	return "", fmt.Errorf("unknown scheme %s (want v2, v3 or hyp)", quoteName(s))
}

// quoteName quotes a scheme name for an error, unless it is not plain printable ASCII: an escape
// such as \x16 runs into the letters after it, and what reads as a name could then be a piece of
// a key someone pasted into the wrong field (the key-file fuzz test found one).
func quoteName(s string) string {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return "(not plain text)"
		}
	}
	return fmt.Sprintf("%q", s)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Params select a scheme and its settings. Low and High are ignored by the
// hyp scheme, whose ports span 0..65280 in steps of 256. Realm is v3's only:
// the exact UTF-8 bytes, compared as bytes (no case folding or
// normalisation), "" being a realm like any other.
type Params struct {
	Scheme Scheme
	Length int   // ports per sequence
	Step   int64 // seconds per time window
	Low    uint16
	High   uint16
	Realm  string
}

// Defaults returns the v2 defaults of docs/protocol.md section 2.
func Defaults() Params {
	return Params{Scheme: V2, Length: 4, Step: 30, Low: 1024, High: 65535}
}

// V3Defaults returns the v3 defaults of docs/protocol.md section 10 with the
// given realm.
func V3Defaults(realm string) Params {
	return Params{Scheme: V3, Length: 2, Step: 30, Low: 1024, High: 65535, Realm: realm}
}

// HypDefaults returns the only valid settings of the hyp scheme.
func HypDefaults() Params {
	return Params{Scheme: Hyp, Length: hypLength, Step: hypStep, Low: 1024, High: 65535}
}

// DefaultsFor returns the defaults of scheme s: HypDefaults for hyp,
// V3Defaults with no realm for v3, Defaults for anything else.
func DefaultsFor(s Scheme) Params {
	switch s {
	case Hyp:
		return HypDefaults()
	case V3:
		return V3Defaults("")
	}
	return Defaults()
}

// CheckRealm reports why r cannot be a realm: longer than MaxRealm bytes,
// not UTF-8, or holding a control character (which no one could type or
// see in a URI or a config file).
func CheckRealm(r string) error {
	if len(r) > MaxRealm {
		return fmt.Errorf("realm is %d bytes long, at most %d", len(r), MaxRealm)
	}
	if !utf8.ValidString(r) {
		return errors.New("realm is not valid UTF-8")
	}
	for i, c := range r {
		if unicode.IsControl(c) {
			return fmt.Errorf("realm has a control character at byte %d", i)
		}
	}
	return nil
}

// Validate reports the first setting out of range, naming it.
func (p Params) Validate() error {
	switch p.Scheme {
	case V2, V3:
		lo, hi := MinLength, MaxLength
		if p.Scheme == V3 {
			lo, hi = MinLengthV3, MaxLengthV3
			if err := CheckRealm(p.Realm); err != nil {
				return err
			}
		} else if p.Realm != "" {
			return fmt.Errorf("scheme %s has no realm (realms need scheme v3)", p.Scheme)
		}
		if p.Length < lo || p.Length > hi {
			if p.Scheme == V3 {
				return fmt.Errorf("length must be %d..%d for scheme v3, got %d", lo, hi, p.Length)
			}
			return fmt.Errorf("length must be %d..%d, got %d", lo, hi, p.Length)
		}
		if p.Step < MinStep || p.Step > MaxStep {
			return fmt.Errorf("step must be %d..%d seconds, got %d", MinStep, MaxStep, p.Step)
		}
		if p.Low < 1 {
			return errors.New("low must be at least 1, got 0")
		}
		if p.High < p.Low {
			return fmt.Errorf("high (%d) must not be below low (%d)", p.High, p.Low)
		}
	case Hyp:
		if p.Realm != "" {
			return errors.New("scheme hyp has no realm (realms need scheme v3)")
		}
		if p.Length != hypLength {
			return fmt.Errorf("scheme hyp requires length %d, got %d", hypLength, p.Length)
		}
		if p.Step != hypStep {
			return fmt.Errorf("scheme hyp requires step %d, got %d", hypStep, p.Step)
		}
	default:
		return fmt.Errorf("unknown scheme %s (want v2, v3 or hyp)", quoteName(string(p.Scheme)))
	}
	return nil
}

// Window returns floor(unix/Step). Times before 1970 map to window 0 and an
// invalid Step to 0; nobody knocks in the 1960s.
func (p Params) Window(unix int64) uint64 {
	if unix < 0 || p.Step <= 0 {
		return 0
	}
	return uint64(unix / p.Step)
}

// Ports returns the sequence for a window and use counter. The hyp scheme
// has no counter; it must be 0.
func Ports(k psk.Key, p Params, window uint64, counter uint32) ([]uint16, error) {
	g, err := newGenerator(k, p)
	if err != nil {
		return nil, err
	}
	return g.ports(window, counter)
}

// PortsAt returns the sequence for the window holding unix time t.
func PortsAt(k psk.Key, p Params, unix int64, counter uint32) ([]uint16, error) {
	return Ports(k, p, p.Window(unix), counter)
}

// TagsAt returns the tags of the v3 sequence for the window holding unix
// time t: the payload of datagram i is the 8 bytes of Tags[i], big-endian.
// Other schemes have none.
func TagsAt(k psk.Key, p Params, unix int64, counter uint32) ([]uint64, error) {
	c, err := At(k, p, unix, counter)
	return c.Tags, err
}

// At returns the whole sequence (ports, and tags for v3) for the window
// holding unix time t.
func At(k psk.Key, p Params, unix int64, counter uint32) (Candidate, error) {
	w := p.Window(unix)
	cs, err := Range(k, p, w, w, int(counter)+1)
	if err != nil {
		return Candidate{}, err
	}
	return cs[counter], nil
}

// Candidate is one sequence a daemon should accept right now. Tags is nil
// except for v3, where it has one tag per port.
type Candidate struct {
	Window  uint64
	Counter uint32
	Ports   []uint16
	Tags    []uint64
}

// Candidates lists the sequences valid at unix time t: windows T-skew..T+skew
// (windows below 0 left out), each with counters 0..uses-1, in that order.
func Candidates(k psk.Key, p Params, unix int64, skew int, uses int) ([]Candidate, error) {
	if skew < 0 || skew > MaxSkew {
		return nil, fmt.Errorf("skew must be 0..%d, got %d", MaxSkew, skew)
	}
	t := p.Window(unix)
	first := uint64(0)
	if t > uint64(skew) {
		first = t - uint64(skew)
	}
	return Range(k, p, first, t+uint64(skew), uses)
}

// Range lists the sequences of windows first..last, each with counters
// 0..uses-1, in that order. A daemon that already holds the other windows
// computes only the one a time step makes acceptable.
func Range(k psk.Key, p Params, first, last uint64, uses int) ([]Candidate, error) {
	var g Generator
	return g.Append(nil, k, p, first, last, uses)
}

// Generator computes sequences for one key after another, reusing its hash
// state and buffers: a daemon with many keys computes each key's new window
// at every time step, and a keyed HMAC per key would cost more allocations
// and hashing than the sequences themselves. The zero value is ready; it is
// not safe for concurrent use.
type Generator struct {
	g      generator
	sha1   hash.Hash
	sha256 hash.Hash
}

// Append appends the sequences of windows first..last, each with counters
// 0..uses-1, in that order, to dst. The ports of the appended candidates
// share one allocation.
func (gen *Generator) Append(dst []Candidate, k psk.Key, p Params, first, last uint64, uses int) ([]Candidate, error) {
	if uses < 1 || uses > MaxUses {
		return dst, fmt.Errorf("uses must be 1..%d, got %d", MaxUses, uses)
	}
	if p.Scheme == Hyp && uses != 1 {
		return dst, fmt.Errorf("scheme hyp has no use counter: uses must be 1, got %d", uses)
	}
	if last < first {
		return dst, nil
	}
	if last-first > 2*MaxSkew {
		return dst, fmt.Errorf("windows %d to %d: more than %d", first, last, 2*MaxSkew+1)
	}
	if err := gen.rekey(k, p); err != nil {
		return dst, err
	}
	n := int(last-first+1) * uses
	ports := make([]uint16, n*p.Length)
	var tags []uint64
	if p.Scheme == V3 {
		tags = make([]uint64, n*p.Length)
	}
	for w := first; w <= last; w++ {
		for c := 0; c < uses; c++ {
			out := ports[:p.Length:p.Length]
			ports = ports[p.Length:]
			var tout []uint64
			if tags != nil {
				tout = tags[:p.Length:p.Length]
				tags = tags[p.Length:]
			}
			if err := gen.g.fill(out, tout, w, uint32(c)); err != nil {
				return dst, err
			}
			dst = append(dst, Candidate{Window: w, Counter: uint32(c), Ports: out, Tags: tout})
		}
	}
	return dst, nil
}

// rekey points the generator at k with p, keeping the hash it already has.
func (gen *Generator) rekey(k psk.Key, p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if k.IsZero() {
		return errors.New("no key")
	}
	h := &gen.sha256
	if p.Scheme == Hyp {
		h = &gen.sha1
		if *h == nil {
			*h = sha1.New()
		}
	} else if *h == nil {
		*h = sha256.New()
	}
	gen.g.p = p
	gen.g.mac = &gen.g.hm
	gen.g.hm.reset(*h, k.Bytes())
	return nil
}

// hmacState is HMAC (RFC 2104) over a hash the generator reuses for every
// key: the inner and outer pads are kept, the hash is not.
type hmacState struct {
	h          hash.Hash
	ipad, opad [64]byte // SHA-1 and SHA-256 both have 64-byte blocks
	inner      [sha256.Size]byte
}

func (m *hmacState) reset(h hash.Hash, key []byte) {
	m.h = h
	if len(key) > h.BlockSize() {
		h.Reset()
		h.Write(key)
		key = h.Sum(m.inner[:0])
	}
	m.ipad, m.opad = [64]byte{}, [64]byte{}
	copy(m.ipad[:], key)
	copy(m.opad[:], key)
	for i := range m.ipad {
		m.ipad[i] ^= 0x36
		m.opad[i] ^= 0x5c
	}
	clear(key)
	m.Reset()
}

func (m *hmacState) Reset() {
	m.h.Reset()
	m.h.Write(m.ipad[:])
}

func (m *hmacState) Write(b []byte) (int, error) { return m.h.Write(b) }

func (m *hmacState) Sum(b []byte) []byte {
	in := m.h.Sum(m.inner[:0])
	m.h.Reset()
	m.h.Write(m.opad[:])
	m.h.Write(in)
	return m.h.Sum(b)
}

// mac is the part of hash.Hash the generator uses.
type mac interface {
	Reset()
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// generator keeps one keyed HMAC so a batch of windows pays for the key
// schedule (hashing a long key, the inner and outer pads) once.
type generator struct {
	p   Params
	mac mac
	hm  hmacState
	sum [sha256.Size]byte // scratch for Sum; large enough for SHA-1 too
}

func newGenerator(k psk.Key, p Params) (*generator, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if k.IsZero() {
		return nil, errors.New("no key")
	}
	g := &generator{p: p}
	if p.Scheme == Hyp {
		g.mac = hmac.New(sha1.New, k.Bytes())
	} else {
		g.mac = hmac.New(sha256.New, k.Bytes())
	}
	return g, nil
}

const (
	v2Label = "hyp/knock/v2"
	v3Label = "hyp/knock/v3"
)

func (g *generator) ports(window uint64, counter uint32) ([]uint16, error) {
	out := make([]uint16, g.p.Length)
	var tags []uint64
	if g.p.Scheme == V3 {
		tags = make([]uint64, g.p.Length)
	}
	if err := g.fill(out, tags, window, counter); err != nil {
		return nil, err
	}
	return out, nil
}

// fill writes the sequence of (window, counter) into out, which holds
// p.Length ports, and for v3 its tags into tags, of the same length.
func (g *generator) fill(out []uint16, tags []uint64, window uint64, counter uint32) error {
	switch g.p.Scheme {
	case Hyp:
		if counter != 0 {
			return fmt.Errorf("scheme hyp has no use counter: must be 0, got %d", counter)
		}
		g.hyp(out, window)
	case V3:
		g.v3(out, tags, window, counter)
	default:
		g.v2(out, window, counter)
	}
	return nil
}

// v3 is docs/protocol.md section 10: v2's construction with a realm in the
// message and 12 bytes of the stream per datagram, a port from the first 4
// and the tag from the next 8.
func (g *generator) v3(out []uint16, tags []uint64, window uint64, counter uint32) {
	var buf [len(v3Label) + 1 + MaxRealm + 8 + 4 + 1]byte
	msg := append(buf[:0], v3Label...)
	msg = append(msg, byte(len(g.p.Realm)))
	msg = append(msg, g.p.Realm...)
	msg = binary.BigEndian.AppendUint64(msg, window)
	msg = binary.BigEndian.AppendUint32(msg, counter)
	msg = append(msg, 0)

	var stream [12 * MaxLengthV3]byte
	need := 12 * len(out)
	for j := 0; j*sha256.Size < need; j++ {
		g.mac.Reset()
		msg[len(msg)-1] = byte(j)
		g.mac.Write(msg)
		copy(stream[j*sha256.Size:], g.mac.Sum(g.sum[:0]))
	}
	span := uint32(g.p.High) - uint32(g.p.Low) + 1
	for i := range out {
		d := stream[12*i:]
		out[i] = g.p.Low + uint16(binary.BigEndian.Uint32(d)%span)
		tags[i] = binary.BigEndian.Uint64(d[4:])
	}
}

// v2 is docs/protocol.md section 2.
func (g *generator) v2(out []uint16, window uint64, counter uint32) {
	var msg [len(v2Label) + 8 + 4 + 1]byte
	copy(msg[:], v2Label)
	binary.BigEndian.PutUint64(msg[len(v2Label):], window)
	binary.BigEndian.PutUint32(msg[len(v2Label)+8:], counter)

	span := uint32(g.p.High) - uint32(g.p.Low) + 1
	var block []byte
	for i := range out {
		off := (4 * i) % sha256.Size
		if off == 0 {
			g.mac.Reset()
			msg[len(msg)-1] = byte(4 * i / sha256.Size)
			g.mac.Write(msg[:])
			block = g.mac.Sum(g.sum[:0])
		}
		out[i] = g.p.Low + uint16(binary.BigEndian.Uint32(block[off:])%span)
	}
}

// hyp is docs/protocol.md section 3, the reference client's dynamic truncation.
func (g *generator) hyp(out []uint16, window uint64) {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], window)
	g.mac.Reset()
	g.mac.Write(msg[:])
	h := g.mac.Sum(g.sum[:0])
	off := h[19] & 0x0f
	for i := range out {
		out[i] = uint16(h[int(off)+i]) << 8
	}
}

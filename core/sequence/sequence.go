// Package sequence turns a key and a time step into knock ports, for the two
// schemes of PROTOCOL.md: v2 (the default, HMAC-SHA-256, configurable length
// and port range, a use counter per window) and hyp (bit-for-bit the
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

	"github.com/hideyourports/hyp/core/psk"
)

// Scheme names a way to derive ports.
type Scheme string

// The schemes of PROTOCOL.md sections 2 and 3.
const (
	V2  Scheme = "v2"
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

	hypLength = 4
	hypStep   = 30
)

// ParseScheme accepts "v2" or "hyp" (any case).
func ParseScheme(s string) (Scheme, error) {
	switch Scheme(lower(s)) {
	case V2:
		return V2, nil
	case Hyp:
		return Hyp, nil
	}
	return "", fmt.Errorf("unknown scheme %q (want v2 or hyp)", s)
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
// hyp scheme, whose ports span 0..65280 in steps of 256.
type Params struct {
	Scheme Scheme
	Length int   // ports per sequence
	Step   int64 // seconds per time window
	Low    uint16
	High   uint16
}

// Defaults returns the v2 defaults of PROTOCOL.md section 2.
func Defaults() Params {
	return Params{Scheme: V2, Length: 4, Step: 30, Low: 1024, High: 65535}
}

// HypDefaults returns the only valid settings of the hyp scheme.
func HypDefaults() Params {
	return Params{Scheme: Hyp, Length: hypLength, Step: hypStep, Low: 1024, High: 65535}
}

// Validate reports the first setting out of range, naming it.
func (p Params) Validate() error {
	switch p.Scheme {
	case V2:
		if p.Length < MinLength || p.Length > MaxLength {
			return fmt.Errorf("length must be %d..%d, got %d", MinLength, MaxLength, p.Length)
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
		if p.Length != hypLength {
			return fmt.Errorf("scheme hyp requires length %d, got %d", hypLength, p.Length)
		}
		if p.Step != hypStep {
			return fmt.Errorf("scheme hyp requires step %d, got %d", hypStep, p.Step)
		}
	default:
		return fmt.Errorf("unknown scheme %q (want v2 or hyp)", string(p.Scheme))
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

// Candidate is one sequence a daemon should accept right now.
type Candidate struct {
	Window  uint64
	Counter uint32
	Ports   []uint16
}

// Candidates lists the sequences valid at unix time t: windows T-skew..T+skew
// (windows below 0 left out), each with counters 0..uses-1, in that order.
func Candidates(k psk.Key, p Params, unix int64, skew int, uses int) ([]Candidate, error) {
	if skew < 0 || skew > MaxSkew {
		return nil, fmt.Errorf("skew must be 0..%d, got %d", MaxSkew, skew)
	}
	if uses < 1 || uses > MaxUses {
		return nil, fmt.Errorf("uses must be 1..%d, got %d", MaxUses, uses)
	}
	if p.Scheme == Hyp && uses != 1 {
		return nil, fmt.Errorf("scheme hyp has no use counter: uses must be 1, got %d", uses)
	}
	g, err := newGenerator(k, p)
	if err != nil {
		return nil, err
	}
	t := p.Window(unix)
	first := uint64(0)
	if t > uint64(skew) {
		first = t - uint64(skew)
	}
	out := make([]Candidate, 0, int(t+uint64(skew)-first+1)*uses)
	for w := first; w <= t+uint64(skew); w++ {
		for c := 0; c < uses; c++ {
			ports, err := g.ports(w, uint32(c))
			if err != nil {
				return nil, err
			}
			out = append(out, Candidate{Window: w, Counter: uint32(c), Ports: ports})
		}
	}
	return out, nil
}

// generator keeps one keyed HMAC so a batch of windows pays for the key
// schedule (hashing a long key, the inner and outer pads) once.
type generator struct {
	p   Params
	mac hash.Hash
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

const v2Label = "hyp/knock/v2"

func (g *generator) ports(window uint64, counter uint32) ([]uint16, error) {
	if g.p.Scheme == Hyp {
		if counter != 0 {
			return nil, fmt.Errorf("scheme hyp has no use counter: must be 0, got %d", counter)
		}
		return g.hyp(window), nil
	}
	return g.v2(window, counter), nil
}

// v2 is PROTOCOL.md section 2.
func (g *generator) v2(window uint64, counter uint32) []uint16 {
	var msg [len(v2Label) + 8 + 4 + 1]byte
	copy(msg[:], v2Label)
	binary.BigEndian.PutUint64(msg[len(v2Label):], window)
	binary.BigEndian.PutUint32(msg[len(v2Label)+8:], counter)

	n := g.p.Length
	span := uint32(g.p.High) - uint32(g.p.Low) + 1
	out := make([]uint16, n)
	var block []byte
	for i := range n {
		off := (4 * i) % sha256.Size
		if off == 0 {
			g.mac.Reset()
			msg[len(msg)-1] = byte(4 * i / sha256.Size)
			g.mac.Write(msg[:])
			block = g.mac.Sum(g.sum[:0])
		}
		out[i] = g.p.Low + uint16(binary.BigEndian.Uint32(block[off:])%span)
	}
	return out
}

// hyp is PROTOCOL.md section 3, the reference client's dynamic truncation.
func (g *generator) hyp(window uint64) []uint16 {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], window)
	g.mac.Reset()
	g.mac.Write(msg[:])
	h := g.mac.Sum(g.sum[:0])
	off := h[19] & 0x0f
	out := make([]uint16, hypLength)
	for i := range out {
		out[i] = uint16(h[int(off)+i]) << 8
	}
	return out
}

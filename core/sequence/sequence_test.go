package sequence_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

type vectorFile struct {
	Scheme string `json:"scheme"`
	Cases  []struct {
		Secret  string   `json:"secret"`
		Time    int64    `json:"time"`
		Step    int64    `json:"step"`
		Length  int      `json:"length"`
		Low     uint16   `json:"low"`
		High    uint16   `json:"high"`
		Counter uint32   `json:"counter"`
		Ports   []uint16 `json:"ports"`
	} `json:"cases"`
}

func loadVectors(t testing.TB, name string) vectorFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(v.Cases) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return v
}

func TestVectors(t *testing.T) {
	for _, file := range []string{"knock-v2.json", "knock-hyp.json"} {
		v := loadVectors(t, file)
		scheme, err := sequence.ParseScheme(v.Scheme)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for i, c := range v.Cases {
			k, err := psk.Parse(c.Secret)
			if err != nil {
				t.Fatalf("%s case %d: %v", file, i, err)
			}
			p := sequence.Params{Scheme: scheme, Length: c.Length, Step: c.Step, Low: c.Low, High: c.High}
			if scheme == sequence.Hyp {
				p = sequence.HypDefaults()
			}
			got, err := sequence.PortsAt(k, p, c.Time, c.Counter)
			if err != nil {
				t.Fatalf("%s case %d: %v", file, i, err)
			}
			if !slices.Equal(got, c.Ports) {
				t.Errorf("%s case %d (t=%d %+v c=%d): got %v, want %v", file, i, c.Time, p, c.Counter, got, c.Ports)
			}
			// Ports (by window) agrees with PortsAt (by time).
			byWindow, err := sequence.Ports(k, p, uint64(c.Time/p.Step), c.Counter)
			if err != nil || !slices.Equal(byWindow, c.Ports) {
				t.Errorf("%s case %d: Ports by window = %v, %v", file, i, byWindow, err)
			}
		}
	}
}

func TestV2PortsStayInRange(t *testing.T) {
	k, _ := psk.New([]byte("0123456789abcdef0123456789abcdef"))
	p := sequence.Params{Scheme: sequence.V2, Length: 32, Step: 30, Low: 40000, High: 40009}
	for w := range uint64(200) {
		ports, err := sequence.Ports(k, p, w, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 32 {
			t.Fatalf("len %d", len(ports))
		}
		for _, port := range ports {
			if port < p.Low || port > p.High {
				t.Fatalf("window %d: port %d outside %d..%d", w, port, p.Low, p.High)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	ok := []sequence.Params{
		sequence.Defaults(),
		sequence.HypDefaults(),
		{Scheme: sequence.V2, Length: 2, Step: 1, Low: 1, High: 1},
		{Scheme: sequence.V2, Length: 32, Step: 3600, Low: 1, High: 65535},
		{Scheme: sequence.Hyp, Length: 4, Step: 30}, // hyp ignores low/high
	}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	d := sequence.Defaults()
	bad := []struct {
		p    sequence.Params
		want string
	}{
		{sequence.Params{}, "unknown scheme"},
		{sequence.Params{Scheme: "v4", Length: 4, Step: 30, Low: 1, High: 2}, "unknown scheme"},
		{with(d, func(p *sequence.Params) { p.Length = 1 }), "length"},
		{with(d, func(p *sequence.Params) { p.Length = 33 }), "length"},
		{with(d, func(p *sequence.Params) { p.Step = 0 }), "step"},
		{with(d, func(p *sequence.Params) { p.Step = 3601 }), "step"},
		{with(d, func(p *sequence.Params) { p.Low = 0 }), "low"},
		{with(d, func(p *sequence.Params) { p.Low, p.High = 2000, 1999 }), "high"},
		{with(sequence.HypDefaults(), func(p *sequence.Params) { p.Length = 8 }), "requires length 4"},
		{with(sequence.HypDefaults(), func(p *sequence.Params) { p.Step = 60 }), "requires step 30"},
	}
	for _, b := range bad {
		err := b.p.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: got %v, want error containing %q", b.p, err, b.want)
		}
	}
}

func with(p sequence.Params, f func(*sequence.Params)) sequence.Params { f(&p); return p }

func TestParseScheme(t *testing.T) {
	for in, want := range map[string]sequence.Scheme{"v2": sequence.V2, "V2": sequence.V2, "hyp": sequence.Hyp, "HYP": sequence.Hyp} {
		got, err := sequence.ParseScheme(in)
		if err != nil || got != want {
			t.Errorf("ParseScheme(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := sequence.ParseScheme("v1"); err == nil {
		t.Error("v1 accepted")
	}
}

func TestWindow(t *testing.T) {
	p := sequence.Defaults()
	for unix, want := range map[int64]uint64{0: 0, 29: 0, 30: 1, 59: 1, 1795000000: 59833333, -5: 0} {
		if got := p.Window(unix); got != want {
			t.Errorf("Window(%d) = %d, want %d", unix, got, want)
		}
	}
}

func TestHypRejectsCounter(t *testing.T) {
	k, _ := psk.Generate()
	if _, err := sequence.Ports(k, sequence.HypDefaults(), 1, 1); err == nil {
		t.Error("hyp accepted counter 1")
	}
	if _, err := sequence.Candidates(k, sequence.HypDefaults(), 100, 1, 2); err == nil {
		t.Error("hyp accepted uses 2")
	}
}

func TestZeroKeyRejected(t *testing.T) {
	if _, err := sequence.Ports(psk.Key{}, sequence.Defaults(), 1, 0); err == nil {
		t.Error("zero key accepted")
	}
}

func TestCandidates(t *testing.T) {
	k, _ := psk.Generate()
	p := sequence.Defaults()
	const now = 1795000000 // window 59833333
	got, err := sequence.Candidates(k, p, now, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5*3 {
		t.Fatalf("got %d candidates, want 15", len(got))
	}
	i := 0
	for w := uint64(59833331); w <= 59833335; w++ {
		for c := uint32(0); c < 3; c++ {
			want, _ := sequence.Ports(k, p, w, c)
			if got[i].Window != w || got[i].Counter != c || !slices.Equal(got[i].Ports, want) {
				t.Errorf("candidate %d = %+v, want window %d counter %d ports %v", i, got[i], w, c, want)
			}
			i++
		}
	}

	// Near the epoch, windows below 0 are left out rather than wrapping.
	early, err := sequence.Candidates(k, p, 10, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(early) != 2 || early[0].Window != 0 || early[1].Window != 1 {
		t.Errorf("early candidates %+v, want windows 0 and 1", early)
	}

	for _, bad := range [][2]int{{-1, 1}, {11, 1}, {1, 0}, {1, sequence.MaxUses + 1}} {
		if _, err := sequence.Candidates(k, p, now, bad[0], bad[1]); err == nil {
			t.Errorf("skew %d uses %d accepted", bad[0], bad[1])
		}
	}
}

func benchKey(b *testing.B) psk.Key {
	k, err := psk.Parse("AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkPortsV2(b *testing.B) {
	k := benchKey(b)
	p := sequence.Defaults()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := sequence.Ports(k, p, uint64(i), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPortsHyp(b *testing.B) {
	k := benchKey(b)
	p := sequence.HypDefaults()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := sequence.Ports(k, p, uint64(i), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCandidates10000Keys is the daemon's work per time step for 10,000
// keys with the default skew and uses.
func BenchmarkCandidates10000Keys(b *testing.B) {
	keys := make([]psk.Key, 10000)
	for i := range keys {
		var err error
		if keys[i], err = psk.Generate(); err != nil {
			b.Fatal(err)
		}
	}
	p := sequence.Defaults()
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		for _, k := range keys {
			if _, err := sequence.Candidates(k, p, 1795000000+30*i, 1, 1); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// A Generator reused across keys of every length and both schemes gives what a fresh keyed HMAC
// gives (Ports, which the vectors pin).
func TestGeneratorMatchesPorts(t *testing.T) {
	var g sequence.Generator
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		b := make([]byte, 16+rng.IntN(113)) // shorter and longer than a hash block
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		k, err := psk.New(b)
		if err != nil {
			continue
		}
		p := sequence.Defaults()
		uses := 1 + rng.IntN(3)
		if i%3 == 0 {
			p, uses = sequence.HypDefaults(), 1
		} else {
			p.Length = 2 + rng.IntN(31)
		}
		first := rng.Uint64N(1 << 40)
		got, err := g.Append(nil, k, p, first, first+2, uses)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3*uses {
			t.Fatalf("%d candidates, want %d", len(got), 3*uses)
		}
		for _, c := range got {
			want, err := sequence.Ports(k, p, c.Window, c.Counter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Ports, want) {
				t.Fatalf("key of %d bytes, %s, window %d, counter %d: %v, want %v", len(b), p.Scheme, c.Window, c.Counter, c.Ports, want)
			}
		}
	}
}

func BenchmarkGeneratorWindow(b *testing.B) {
	k, _ := psk.Generate()
	var g sequence.Generator
	buf := make([]sequence.Candidate, 0, 1)
	b.ReportAllocs()
	for i := range b.N {
		if _, err := g.Append(buf[:0], k, sequence.Defaults(), uint64(i), uint64(i), 1); err != nil {
			b.Fatal(err)
		}
	}
}

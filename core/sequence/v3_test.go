package sequence_test

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

type v3Case struct {
	Secret  string   `json:"secret"`
	Time    int64    `json:"time"`
	Step    int64    `json:"step"`
	Length  int      `json:"length"`
	Low     uint16   `json:"low"`
	High    uint16   `json:"high"`
	Counter uint32   `json:"counter"`
	Realm   string   `json:"realm"`
	Ports   []uint16 `json:"ports"`
	Tags    []string `json:"tags"`
}

func TestV3Vectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "knock-v3.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Scheme string   `json:"scheme"`
		Cases  []v3Case `json:"cases"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Scheme != "v3" || len(v.Cases) < 10 {
		t.Fatalf("knock-v3.json: scheme %q with %d cases", v.Scheme, len(v.Cases))
	}
	realms := map[string]bool{}
	for i, c := range v.Cases {
		k, err := psk.Parse(c.Secret)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		p := sequence.Params{Scheme: sequence.V3, Length: c.Length, Step: c.Step, Low: c.Low, High: c.High, Realm: c.Realm}
		got, err := sequence.At(k, p, c.Time, c.Counter)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !slices.Equal(got.Ports, c.Ports) {
			t.Errorf("case %d (realm %q): ports %v, want %v", i, c.Realm, got.Ports, c.Ports)
		}
		var tags []string
		for _, tag := range got.Tags {
			tags = append(tags, hex.EncodeToString(binary.BigEndian.AppendUint64(nil, tag)))
		}
		if !slices.Equal(tags, c.Tags) {
			t.Errorf("case %d (realm %q): tags %v, want %v", i, c.Realm, tags, c.Tags)
		}
		// Ports and PortsAt agree with At.
		if ports, err := sequence.PortsAt(k, p, c.Time, c.Counter); err != nil || !slices.Equal(ports, c.Ports) {
			t.Errorf("case %d: PortsAt = %v, %v", i, ports, err)
		}
		realms[c.Realm] = true
	}
	for _, want := range []string{"", "zürich", "zu\u0308rich", strings.Repeat("x", 64)} {
		if !realms[want] {
			t.Errorf("no vector with realm %q", want)
		}
	}
}

// The realm is what binds a knock to a gateway: the same key, time and
// counter give another sequence in every other realm, the empty one
// included, and none of it matches v2's.
func TestV3RealmsDiffer(t *testing.T) {
	k, _ := psk.New([]byte("0123456789abcdef0123456789abcdef"))
	seen := map[string]string{}
	for _, realm := range []string{"", "a", "A", "a ", "site-a", "zürich", "zu\u0308rich"} {
		c, err := sequence.At(k, sequence.V3Defaults(realm), 1764950400, 0)
		if err != nil {
			t.Fatal(err)
		}
		id := hex.EncodeToString(binary.BigEndian.AppendUint64(nil, c.Tags[0]))
		if other, dup := seen[id]; dup {
			t.Errorf("realms %q and %q give the same first tag", other, realm)
		}
		seen[id] = realm
	}
	v2, _ := sequence.PortsAt(k, sequence.Defaults(), 1764950400, 0)
	v3, _ := sequence.PortsAt(k, sequence.Params{Scheme: sequence.V3, Length: 4, Step: 30, Low: 1024, High: 65535}, 1764950400, 0)
	if slices.Equal(v2, v3) {
		t.Errorf("v3 with no realm gives v2's ports %v", v2)
	}
}

func TestV3Validate(t *testing.T) {
	ok := sequence.V3Defaults("gw.example.com")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    sequence.Params
		want string
	}{
		{"long realm", sequence.V3Defaults(strings.Repeat("x", 65)), "65 bytes long"},
		{"bad utf-8", sequence.V3Defaults("a\xffb"), "UTF-8"},
		{"control", sequence.V3Defaults("a\nb"), "control character at byte 1"},
		{"length 0", func() sequence.Params { p := ok; p.Length = 0; return p }(), "length must be 1..8"},
		{"length 9", func() sequence.Params { p := ok; p.Length = 9; return p }(), "length must be 1..8"},
		{"v2 realm", func() sequence.Params { p := sequence.Defaults(); p.Realm = "x"; return p }(), "realms need scheme v3"},
		{"hyp realm", func() sequence.Params { p := sequence.HypDefaults(); p.Realm = "x"; return p }(), "realms need scheme v3"},
	} {
		err := c.p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if s, err := sequence.ParseScheme("V3"); err != nil || s != sequence.V3 {
		t.Errorf("ParseScheme(V3) = %q, %v", s, err)
	}
	if tags, _ := sequence.TagsAt(psk.Key{}, sequence.Defaults(), 0, 0); tags != nil {
		t.Errorf("v2 has tags %v", tags)
	}
}

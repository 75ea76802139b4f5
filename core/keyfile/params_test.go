package keyfile_test

import (
	"testing"

	"github.com/hideyourports/hyp/core/keyfile"
	"github.com/hideyourports/hyp/core/sequence"
)

// File.Params reads a key's knock settings with sequence.Fields.Apply: the
// file's scheme picks the defaults, def's realm is the gateway's for v3
// whatever def's own scheme, and an error names the field and its line.
func TestFileParams(t *testing.T) {
	s := "secret = \"" + secret + "\"\n"
	gwV2WithRealm := sequence.Defaults()
	gwV2WithRealm.Realm = "office" // a gateway whose default is v2 but that has a realm
	for _, c := range []struct {
		name, text string
		def        sequence.Params
		want       sequence.Params
		err        string
	}{
		{"none given", s, sequence.V3Defaults("gw"), sequence.V3Defaults("gw"), ""},
		{"v3 named at a v2 gateway with a realm", s + "scheme = \"v3\"\n", gwV2WithRealm, sequence.V3Defaults("office"), ""},
		{"v2 at a v3 gateway", s + "scheme = \"v2\"\n", sequence.V3Defaults("gw"), sequence.Defaults(), ""},
		{"hyp ignores low and high", s + "scheme = \"hyp\"\nlow = 70000\nhigh = 1\n", sequence.Defaults(), sequence.HypDefaults(), ""},
		{"bad length names its line", s + "scheme = \"v3\"\nlength = 9\n", sequence.Defaults(), sequence.Params{}, "line 3: length: must be 1..8 for scheme v3, got 9"},
		{"realm needs v3", s + "\nrealm = \"x\"\n", sequence.Defaults(), sequence.Params{}, "line 3: realm: needs scheme v3 (the scheme is v2)"},
		{"port", s + "low = 70000\n", sequence.Defaults(), sequence.Params{}, "line 2: low: must be a port 1..65535, got 70000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			kf, err := keyfile.ParseTOML([]byte(c.text))
			if err != nil {
				t.Fatal(err)
			}
			got, err := kf.Params(c.def)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("Params = %+v, %v; want error %q", got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("Params = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

package profile_test

import (
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
)

// A v3 profile keeps its realm, non-ASCII and reserved characters included,
// through URI and back; the default v3 length is not written out.
func TestV3RealmRoundTrip(t *testing.T) {
	secret := "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"
	for _, realm := range []string{"", "gw1.example.com", "zürich", "東京 &=?#%+", strings.Repeat("é", 32)} {
		uri := "hyp://gw.example.com?secret=" + secret + "&scheme=v3"
		p, warn, err := profile.Parse(uri)
		if err != nil || len(warn) != 0 {
			t.Fatalf("%s: %v %v", uri, warn, err)
		}
		p.Params.Realm = realm
		out := p.URI()
		back, warn, err := profile.Parse(out)
		if err != nil || len(warn) != 0 {
			t.Fatalf("realm %q: %s: %v %v", realm, p, warn, err)
		}
		if back.Params != p.Params {
			t.Errorf("realm %q: %+v came back as %+v", realm, p.Params, back.Params)
		}
		if back.Params != sequence.V3Defaults(realm) {
			t.Errorf("realm %q: %+v, want the v3 defaults", realm, back.Params)
		}
		if strings.Contains(out, "length=") {
			t.Errorf("realm %q: %s writes the default length", realm, p)
		}
	}
}

package profiles_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
)

// oldFile is a settings file as hyp wrote it before realms and sites: it loads unchanged, and
// its key in the keyring is found under the profile's name as before.
const oldFile = `# hyp client profiles, written by hyp (hyp profile add/remove).
version = 1

[[profile]]
  name = "office"
  host = "gw.example.com"
  scheme = "v2"
  length = 4
  step = 30
  low = 1024
  high = 65535
  check = "tcp/443"
  gap = "10ms"
  keepalive = "1m0s"
  command = ["/usr/bin/wg-quick", "up", "office vpn"]
  always_on = true
`

func TestOldSettingsFileLoadsUnchanged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, profiles.FileName), []byte(oldFile), 0o600); err != nil {
		t.Fatal(err)
	}
	mem := profiles.NewMemory()
	key := newKey(t)
	if err := mem.Set("office", key); err != nil {
		t.Fatal(err)
	}
	s, err := profiles.Open(profiles.Options{Dir: dir, Secrets: mem})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Get("office")
	if err != nil {
		t.Fatal(err)
	}
	want := testProfile(t, "office")
	want.Key = key
	if !reflect.DeepEqual(p, want) {
		t.Errorf("old file loads as\n%+v\nwant\n%+v", p, want)
	}
	if sites := p.Sites(); len(sites) != 1 || sites[0].Host != "gw.example.com" || sites[0].Name != "" {
		t.Errorf("an old profile's sites: %+v; want its one gateway", sites)
	}
	if at := p.At(p.Sites()[0]); !reflect.DeepEqual(at, p) {
		t.Errorf("an old profile at its one site differs from itself: %+v", at)
	}
	// Saving it again writes no site table: a file without sites stays one.
	if err := s.Put(p, true); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(s.Path())
	if strings.Contains(string(data), "site") || strings.Contains(string(data), "realm") {
		t.Errorf("re-saved old profile gained sites or a realm:\n%s", data)
	}
}

// A v3 profile keeps its realm, and its sites with their realms and check ports, through the
// settings file; the key stays one keyring entry under the profile's name.
func TestSitesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	mem := profiles.NewMemory()
	s, err := profiles.Open(profiles.Options{Dir: dir, Secrets: mem})
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := profile.Parse("hyp://10.77.1.1?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ&scheme=v3&realm=z%C3%BCrich&check=tcp/22")
	if err != nil {
		t.Fatal(err)
	}
	p := profiles.FromURI("office", cp)
	key := p.Key
	if err := s.Put(p, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("office")
	if err != nil || got.Params != sequence.V3Defaults("zürich") {
		t.Fatalf("single-site v3 profile: %+v, %v; want its realm kept", got.Params, err)
	}
	p, err = p.AddSite(profiles.Site{Name: "tokyo", Host: "gw2.example.com", Realm: "東京-1", CheckPort: 2222}, "zurich", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(p, true); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get("office")
	if err != nil {
		t.Fatal(err)
	}
	want := []profiles.Site{{Name: "zurich", Host: "10.77.1.1", Realm: "zürich"}, {Name: "tokyo", Host: "gw2.example.com", Realm: "東京-1", CheckPort: 2222}}
	if !reflect.DeepEqual(got.Sites(), want) {
		t.Errorf("sites %+v; want %+v", got.Sites(), want)
	}
	if !got.Key.Equal(key) {
		t.Error("the key did not come back from the keyring")
	}
	tokyo := got.At(got.Sites()[1])
	if tokyo.Host != "gw2.example.com" || tokyo.Params != sequence.V3Defaults("東京-1") || tokyo.CheckPort != 2222 || len(tokyo.SiteList) != 0 {
		t.Errorf("profile at site tokyo: host %s params %+v check %d", tokyo.Host, tokyo.Params, tokyo.CheckPort)
	}
	if z := got.At(got.Sites()[0]); z.CheckPort != 22 {
		t.Errorf("site zurich has no check port of its own, so the profile's (22); got %d", z.CheckPort)
	}
	assertNoSecret(t, dir, key)

	// Removing the first site makes the next one the profile's host.
	p, err = got.RemoveSite("zurich")
	if err != nil || p.Host != "gw2.example.com" || p.Params.Realm != "東京-1" {
		t.Errorf("after removing zurich: host %s realm %q, %v", p.Host, p.Params.Realm, err)
	}
	if _, err := p.RemoveSite("tokyo"); err == nil {
		t.Error("the last site was removed")
	}
}

// Bad sites are refused by name: a duplicate, a bad host, a realm on a v2 profile.
func TestSiteValidation(t *testing.T) {
	p := testProfile(t, "office") // v2
	if _, err := p.AddSite(profiles.Site{Name: "b", Host: "gw2.example.com", Realm: "b"}, "a", false); err == nil || !strings.Contains(err.Error(), `site "b": realm: needs scheme v3`) {
		t.Errorf("realm on a v2 profile: %v", err)
	}
	if _, err := p.AddSite(profiles.Site{Name: "a", Host: "gw2.example.com"}, "a", false); err == nil || !strings.Contains(err.Error(), "already has a site") {
		t.Errorf("duplicate site: %v", err)
	}
	if _, err := p.AddSite(profiles.Site{Name: "b", Host: "gw 2"}, "a", false); err == nil || !strings.Contains(err.Error(), `site "b": host`) {
		t.Errorf("bad host: %v", err)
	}
	dir := t.TempDir()
	bad := strings.Replace(oldFile, "  always_on = true\n", "  always_on = true\n\n  [[profile.site]]\n    name = \"x\"\n    host = \"h\"\n    check = \"udp/1\"\n", 1)
	if err := os.WriteFile(filepath.Join(dir, profiles.FileName), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := profiles.Open(profiles.Options{Dir: dir, Secrets: profiles.NewMemory()})
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), `site 1 ("x"): check`) {
		t.Errorf("a bad site check in the file: %v", err)
	}
}

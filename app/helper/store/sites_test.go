package store_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/profiles"
)

// A profile with sites keeps them in the helper's store, so the helper service knocks them in
// order as hyp connect does; an entry without sites is read as before.
func TestStoreKeepsSites(t *testing.T) {
	needRoot(t)
	s := store.Store{Dir: filepath.Join(t.TempDir(), "helper")}
	p, err := testProfile(t, "office").AddSite(profiles.Site{Name: "b", Host: "192.0.2.8", CheckPort: 2222}, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(p, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(testProfile(t, "home"), false); err != nil {
		t.Fatal(err)
	}
	all, err := s.List()
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %v %v", all, err)
	}
	want := []profiles.Site{{Name: "a", Host: "192.0.2.7"}, {Name: "b", Host: "192.0.2.8", CheckPort: 2222}}
	if got := all[1]; !slices.Equal(got.SiteList, want) || got.Host != "192.0.2.7" || !got.Key.Equal(p.Key) {
		t.Errorf("office read back with sites %+v, host %s; want %+v", got.SiteList, got.Host, want)
	}
	if len(all[0].SiteList) != 0 {
		t.Errorf("home gained sites: %+v", all[0].SiteList)
	}
	if data, _ := os.ReadFile(s.Path("home")); strings.Contains(string(data), "site") {
		t.Errorf("an entry without sites names some:\n%s", data)
	}
}

package corebackend

import (
	"context"
	"slices"
	"testing"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// The window edits a profile with sites as its first site: the sites survive the edit, a new
// host goes to the first site, and Connect's steps name the site that answered.
func TestSitesSurviveAnEditAndStepsNameTheSite(t *testing.T) {
	b, k, _ := newBackend(t)
	key, _ := psk.Generate()
	p := office()
	p.Params, p.Command = sequence.V3Defaults("a"), nil
	if err := b.Save("", p, key); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Update("office", func(q profiles.Profile) (profiles.Profile, error) {
		return q.AddSite(profiles.Site{Name: "b", Host: "10.77.6.1", Realm: "b"}, "a", false)
	}); err != nil {
		t.Fatal(err)
	}
	p.Host = "10.77.5.9"
	if err := b.Save("office", p, psk.Key{}); err != nil {
		t.Fatal(err)
	}
	got, err := b.store.Settings("office")
	if err != nil {
		t.Fatal(err)
	}
	want := []profiles.Site{{Name: "a", Host: "10.77.5.9", Realm: "a"}, {Name: "b", Host: "10.77.6.1", Realm: "b"}}
	if !slices.Equal(got.Sites(), want) || got.Host != "10.77.5.9" {
		t.Fatalf("after the edit: host %s, sites %+v; want %+v", got.Host, got.Sites(), want)
	}

	var steps []ui.Step
	b.conn = &connect.Connector{Knocker: k, Checker: openChecker{}, State: &knockstate.Memory{}}
	if err := b.Knock(context.Background(), "office", func(s ui.Step) { steps = append(steps, s) }); err != nil {
		t.Fatal(err)
	}
	if last := steps[len(steps)-1]; last.Title != "Connected" || last.Site != "a" {
		t.Errorf("last step %+v; want Connected at site a (the first, which answers)", last)
	}
}

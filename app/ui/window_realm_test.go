package ui

import (
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// A v3 profile pasted as a URI keeps its scheme and realm when saved, and again when edited
// (the scheme list knows v3; the realm has no field and stays with the profile).
func TestWindowKeepsV3Realm(t *testing.T) {
	w, _, b := newTestWindow(t)
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	uri := profile.Profile{Name: "zurich", Host: "10.77.9.1", Key: k, Params: sequence.V3Defaults("zürich"), CheckPort: 22}.URI()
	test.Tap(w.newBtn)
	test.Type(w.uri, uri)
	test.Tap(w.apply)
	if w.scheme.Selected != "v3" {
		t.Fatalf("scheme shown %q after a v3 URI; want v3", w.scheme.Selected)
	}
	if !w.Save() {
		t.Fatalf("save: %s", errorsShown(w))
	}
	p, _ := b.profile("zurich")
	if p.Params != sequence.V3Defaults("zürich") {
		t.Fatalf("saved %+v; want v3 with realm zürich", p.Params)
	}
	w.host.SetText("10.77.9.2")
	if !w.Save() {
		t.Fatalf("edit: %s", errorsShown(w))
	}
	if p, _ = b.profile("zurich"); p.Params != sequence.V3Defaults("zürich") || p.Host != "10.77.9.2" {
		t.Errorf("after an edit of the host: %s %+v; want the realm kept", p.Host, p.Params)
	}
}

package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// saveProfile stores p in the fake with a fresh key.
func saveProfile(t *testing.T, b *fakeBackend, p Profile) {
	t.Helper()
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save("", p, k); err != nil {
		t.Fatal(err)
	}
}

// The window shows keep-alive, uses and always-on of a saved profile and saves what is typed.
func TestWindowEditsKeepAliveUsesAlwaysOn(t *testing.T) {
	w, _, b := newTestWindow(t)
	saveProfile(t, b, Profile{Name: "alpha", Host: "10.77.1.2", Params: sequence.Defaults(),
		KeepAlive: 30 * time.Second, Uses: 3, AlwaysOn: true})
	w.reload()
	w.list.Select(0) // alpha sorts first
	if w.current != "alpha" || w.keepAlive.Text != "30s" || w.uses.Text != "3" || !w.alwaysOn.Checked {
		t.Fatalf("alpha loaded as %q: keep-alive %q, uses %q, always-on %v; want 30s, 3, on",
			w.current, w.keepAlive.Text, w.uses.Text, w.alwaysOn.Checked)
	}
	w.keepAlive.SetText("")
	test.Type(w.keepAlive, "1m30s")
	w.uses.SetText("")
	test.Type(w.uses, "8")
	test.Tap(w.alwaysOn) // off
	if !w.Save() {
		t.Fatalf("save: %s", errorsShown(w))
	}
	p, _ := b.profile("alpha")
	if p.KeepAlive != 90*time.Second || p.Uses != 8 || p.AlwaysOn {
		t.Fatalf("saved keep-alive %v, uses %d, always-on %v; want 1m30s, 8, off", p.KeepAlive, p.Uses, p.AlwaysOn)
	}

	// office has none of them: empty fields, and so it stays.
	w.list.Select(1)
	if w.current != "office" || w.keepAlive.Text != "" || w.uses.Text != "" || w.alwaysOn.Checked {
		t.Fatalf("office loaded as %q: keep-alive %q, uses %q, always-on %v", w.current, w.keepAlive.Text, w.uses.Text, w.alwaysOn.Checked)
	}
	test.Tap(w.alwaysOn)
	if !w.Save() {
		t.Fatalf("save: %s", errorsShown(w))
	}
	if p, _ := b.profile("office"); p.KeepAlive != 0 || p.Uses != 0 || !p.AlwaysOn {
		t.Fatalf("office saved with keep-alive %v, uses %d, always-on %v", p.KeepAlive, p.Uses, p.AlwaysOn)
	}
}

// A bad keep-alive or uses is named beside its field and nothing is saved.
func TestKeepAliveAndUsesErrors(t *testing.T) {
	w, _, b := newTestWindow(t)
	w.list.Select(0)
	for _, c := range []struct {
		keepAlive, uses, scheme string
		keepErr, usesErr        string
	}{
		{"3s", "", "v2", "must be at least 5s", ""},
		{"soon", "", "v2", "want a duration such as 25s", ""},
		{"-1m", "", "v2", "must not be negative", ""},
		{"", "0", "v2", "", "must be 1..1024"},
		{"", "many", "v2", "", "want a whole number"},
		{"", "2000", "v2", "", "must be 1..1024"},
		{"", "2", "hyp", "", "scheme hyp has no use counter"},
	} {
		w.scheme.SetSelected(c.scheme)
		w.keepAlive.SetText(c.keepAlive)
		w.uses.SetText(c.uses)
		if w.Save() {
			t.Errorf("keep-alive %q, uses %q, scheme %s: saved", c.keepAlive, c.uses, c.scheme)
		}
		for _, f := range []struct{ name, got, want string }{
			{"keep-alive", w.keepErr.Text, c.keepErr},
			{"uses", w.usesErr.Text, c.usesErr},
		} {
			if (f.want == "") != (f.got == "") || !strings.Contains(f.got, f.want) {
				t.Errorf("keep-alive %q, uses %q, scheme %s: %s error %q, want %q", c.keepAlive, c.uses, c.scheme, f.name, f.got, f.want)
			}
		}
	}
	if p, _ := b.profile("office"); p.KeepAlive != 0 || p.Uses != 0 || p.Params.Scheme != sequence.V2 {
		t.Errorf("a refused edit reached the store: %+v", p)
	}
	// "off" and "0" turn keep-alive off.
	for _, off := range []string{"off", "0"} {
		w.scheme.SetSelected("v2")
		w.keepAlive.SetText(off)
		w.uses.SetText("1")
		if !w.Save() {
			t.Fatalf("keep-alive %q: %s", off, errorsShown(w))
		}
	}
}

// A pasted URI carries no keep-alive, uses or always-on: it leaves what the editor holds.
func TestURIKeepsClientSettings(t *testing.T) {
	w, _, _ := newTestWindow(t)
	test.Tap(w.newBtn)
	test.Type(w.keepAlive, "20s")
	test.Type(w.uses, "1")
	test.Tap(w.alwaysOn)
	uri, _ := testURI(t)
	test.Type(w.uri, uri)
	test.Tap(w.apply)
	if w.keepAlive.Text != "20s" || w.uses.Text != "1" || !w.alwaysOn.Checked || w.host.Text != "10.77.9.1" {
		t.Fatalf("after the URI: keep-alive %q, uses %q, always-on %v, host %q", w.keepAlive.Text, w.uses.Text, w.alwaysOn.Checked, w.host.Text)
	}
}

// The gateway's TOML key file (hypd secret new) imports with its settings; a plain one as the
// reference client's key (TestImportKeyFileAndBrowseCommand).
func TestImportGatewayTOMLKeyFile(t *testing.T) {
	w, _, b := newTestWindow(t)
	test.Tap(w.newBtn)
	k, _ := psk.Generate()
	dir := t.TempDir()
	path := filepath.Join(dir, "bob.toml")
	file := "# hypd secret new bob\nsecret = \"" + k.Encode() + "\"\nscheme = \"v2\"\nservices = [\"udp/51820\", \"tcp/8443\"]\nuses = 3\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	w.ImportKeyFile(path)
	if w.secretErr.Visible() {
		t.Fatalf("the gateway's key file was refused: %s", w.secretErr.Text)
	}
	if w.name.Text != "bob" || w.scheme.Selected != "v2" || w.uses.Text != "3" || w.check.Text != "tcp/8443" {
		t.Errorf("after import: name %q, scheme %q, uses %q, check %q; want bob, v2, 3, tcp/8443", w.name.Text, w.scheme.Selected, w.uses.Text, w.check.Text)
	}
	test.Type(w.host, "10.77.3.1")
	if !w.Save() {
		t.Fatalf("save: %s", errorsShown(w))
	}
	if p, _ := b.profile("bob"); !b.secret("bob").Equal(k) || p.Uses != 3 || p.CheckPort != 8443 || p.Params != sequence.Defaults() {
		t.Errorf("saved %+v (key kept %v)", p, b.secret("bob").Equal(k))
	}

	// A misspelt setting is named with its line, and the key is not in the message.
	bad := filepath.Join(dir, "eve.toml")
	if err := os.WriteFile(bad, []byte("secret = \""+k.Encode()+"\"\nusse = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.ImportKeyFile(bad)
	if !w.secretErr.Visible() || !strings.Contains(w.secretErr.Text, bad+":2") || strings.Contains(w.secretErr.Text, k.Encode()) {
		t.Errorf("error for a bad key file = %q", w.secretErr.Text)
	}
}

// At start the tray connects every always-on profile once, and only those.
func TestAlwaysOnConnectsAtStart(t *testing.T) {
	b := newFake()
	saveProfile(t, b, Profile{Name: "office", Host: "10.77.1.1", Params: sequence.Defaults(), AlwaysOn: true})
	saveProfile(t, b, Profile{Name: "lab", Host: "10.77.1.2", Params: sequence.Defaults()})
	tr := NewTray(test.NewTempApp(t), b, Options{Now: func() time.Time { return testTime }, Notify: (&notes{}).notify})
	h := &fakeHost{}
	tr.Show(h, nil)
	t.Cleanup(func() { tr.cancel(); tr.Wait() })
	select {
	case s := <-b.started:
		if s.name != "office" || !s.connect {
			t.Fatalf("started %+v at start, want a connect of office", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the always-on profile was not connected at start")
	}
	tr.mu.Lock()
	_, lab := tr.running["lab"]
	n := len(tr.running)
	tr.mu.Unlock()
	if lab || n != 1 {
		t.Fatalf("at start %d runs (lab running %v), want office's alone", n, lab)
	}
	h.item(t, "Knock & Connect: office") // a run, not yet up: the row stays, disabled
	if it := h.item(t, "Knock & Connect: office"); !it.Disabled {
		t.Error("office can be clicked again while its start-up run goes on")
	}
}

// An always-on profile the helper service keeps up is left to the helper.
func TestAlwaysOnLeftToHelper(t *testing.T) {
	fs := &fakeService{fakeBackend: newFake(), list: []HelperProfile{{Name: "alpha", Host: "10.77.1.2", Connected: true}}}
	saveProfile(t, fs.fakeBackend, Profile{Name: "alpha", Host: "10.77.1.2", Params: sequence.Defaults(), AlwaysOn: true})
	saveProfile(t, fs.fakeBackend, Profile{Name: "beta", Host: "10.77.1.3", Params: sequence.Defaults(), AlwaysOn: true})
	tr := NewTray(test.NewTempApp(t), fs, Options{Now: func() time.Time { return testTime }, Notify: (&notes{}).notify, ServicePoll: time.Hour})
	tr.Show(&fakeHost{}, nil)
	t.Cleanup(func() { tr.cancel(); tr.Wait() })
	// alpha is decided before beta: once beta starts, alpha was skipped or started.
	select {
	case s := <-fs.started:
		if s.name != "beta" || !s.connect {
			t.Fatalf("started %+v at start, want a connect of beta (alpha is the helper's)", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("beta, always-on and not the helper's, was not connected at start")
	}
	tr.mu.Lock()
	_, alpha := tr.running["alpha"]
	tr.mu.Unlock()
	if alpha {
		t.Fatal("the tray connected alpha, which the helper service keeps up already")
	}
}

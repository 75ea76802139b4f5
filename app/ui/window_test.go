package ui

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/hideyourports/hyp/app/command"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// newTestWindow opens the profile window of a tray with "office" saved.
func newTestWindow(t *testing.T) (*ProfileWindow, *Tray, *fakeBackend) {
	t.Helper()
	tr, b, _, _ := newTestTray(t)
	w := tr.ShowWindow()
	w.win.Resize(fyne.NewSize(820, 580))
	return w, tr, b
}

func testURI(t *testing.T) (string, psk.Key) {
	t.Helper()
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	p := profile.Profile{Name: "lab", Host: "10.77.9.1", Key: k, Params: sequence.HypDefaults(), CheckPort: 2222}
	return p.URI(), k
}

func TestWindowOpensOnFirstProfile(t *testing.T) {
	w, _, _ := newTestWindow(t)
	if w.current != "office" || w.host.Text != "10.77.1.1" || w.remove.Disabled() {
		t.Errorf("window opened on %q (host %q, remove disabled %v), want office", w.current, w.host.Text, w.remove.Disabled())
	}
}

func TestBadURIShowsErrorBesideField(t *testing.T) {
	w, _, _ := newTestWindow(t)
	test.Tap(w.newBtn)
	for _, bad := range []string{"hyp://", "https://example.com", "hyp://gw.example?secret=not-base32!"} {
		w.uri.SetText("")
		test.Type(w.uri, bad)
		test.Tap(w.apply)
		_, _, want := profile.Parse(bad)
		if want == nil {
			t.Fatalf("%q parses", bad)
		}
		if !w.uriErr.Visible() || w.uriErr.Text != want.Error() {
			t.Errorf("%q: error beside the URI = %q (visible %v), want %q", bad, w.uriErr.Text, w.uriErr.Visible(), want)
		}
		if w.name.Text != "" {
			t.Errorf("%q: a bad URI filled the editor (name %q)", bad, w.name.Text)
		}
	}
}

func TestURIFillsEditorAndSecretIsMasked(t *testing.T) {
	w, _, b := newTestWindow(t)
	test.Tap(w.newBtn)
	uri, k := testURI(t)
	test.Type(w.uri, uri)
	test.Tap(w.apply)
	if w.uriErr.Visible() {
		t.Fatalf("good URI refused: %s", w.uriErr.Text)
	}
	if w.name.Text != "lab" || w.host.Text != "10.77.9.1" || w.check.Text != "tcp/2222" || w.scheme.Selected != "hyp" {
		t.Errorf("editor = %q %q %q %q", w.name.Text, w.host.Text, w.check.Text, w.scheme.Selected)
	}
	if w.uri.Text != "" {
		t.Error("the URI (with its secret) stays in its field")
	}
	if !w.secret.Password || !w.uri.Password {
		t.Error("the secret or the URI field is not a password field")
	}
	markup := test.RenderToMarkup(w.win.Canvas())
	if strings.Contains(markup, k.Encode()) || strings.Contains(markup, strings.ToLower(k.Encode())) {
		t.Error("the secret is drawn in the window")
	}
	if !strings.Contains(markup, strings.Repeat("•", 8)) {
		t.Error("no masked text drawn for the secret")
	}

	if !w.Save() {
		t.Fatalf("save failed: %s", errorsShown(w))
	}
	if got := b.secret("lab"); !got.Equal(k) {
		t.Error("the backend did not get the URI's secret")
	}
	if w.secret.Text != "" {
		t.Error("the secret stays in the field after saving")
	}
	p, _ := b.profile("lab")
	if p.Host != "10.77.9.1" || p.CheckPort != 2222 || p.Params != sequence.HypDefaults() {
		t.Errorf("saved %+v", p)
	}
	if !slices.Contains(labels(w.tray.Menu()), "Knock & Connect: lab") {
		t.Errorf("the tray menu did not gain the new profile: %q", labels(w.tray.Menu()))
	}
}

func TestValidationErrorsBesideFields(t *testing.T) {
	w, _, b := newTestWindow(t)
	test.Tap(w.newBtn)
	b.nameErr = func(n string) error {
		if strings.Contains(n, " ") {
			return errors.New("name: spaces are not allowed")
		}
		return nil
	}
	test.Type(w.name, "my gw")
	test.Type(w.host, "10.77.1.1:22")
	test.Type(w.check, "udp/22")
	test.Type(w.secret, "too-short!")
	test.Type(w.command, `"/opt/vpn/up`)
	test.Tap(w.save)

	_, hostErr := profile.ParseHost("10.77.1.1:22")
	_, checkErr := profile.ParseCheck("udp/22")
	_, keyErr := psk.Parse("too-short!")
	for _, c := range []struct {
		field string
		got   string
		want  string
	}{
		{"name", w.nameErr.Text, "name: spaces are not allowed"},
		{"host", w.hostErr.Text, hostErr.Error()},
		{"check", w.checkErr.Text, checkErr.Error()},
		{"secret", w.secretErr.Text, keyErr.Error()},
		{"command", w.cmdErr.Text, "a quote is not closed"},
	} {
		if c.got != c.want {
			t.Errorf("%s error = %q, want %q", c.field, c.got, c.want)
		}
	}
	if _, ok := b.profile("my gw"); ok {
		t.Error("an invalid profile was saved")
	}
	if strings.Contains(errorsShown(w), "too-short!") {
		t.Error("an error repeats the typed secret")
	}

	// A new profile without a secret says so beside the secret field.
	w.clear()
	test.Type(w.name, "lab")
	test.Type(w.host, "gw.example")
	test.Tap(w.save)
	if !w.secretErr.Visible() || !strings.Contains(w.secretErr.Text, "needs its secret") {
		t.Errorf("secret error = %q", w.secretErr.Text)
	}
}

// Editing a saved profile keeps its secret unless one is typed.
func TestEditKeepsSecret(t *testing.T) {
	w, _, b := newTestWindow(t)
	before := b.secret("office")
	w.list.Select(0)
	if w.current != "office" || w.host.Text != "10.77.1.1" || w.command.Text != "wg-quick up office" {
		t.Fatalf("loaded %q %q %q", w.current, w.host.Text, w.command.Text)
	}
	w.host.SetText("gw.example")
	if !w.Save() {
		t.Fatalf("save: %s", errorsShown(w))
	}
	p, _ := b.profile("office")
	if p.Host != "gw.example" || !b.secret("office").Equal(before) {
		t.Errorf("after edit: host %q, secret kept %v", p.Host, b.secret("office").Equal(before))
	}
}

func TestImportKeyFileAndBrowseCommand(t *testing.T) {
	w, _, b := newTestWindow(t)
	test.Tap(w.newBtn)
	k, _ := psk.Generate()
	path := filepath.Join(t.TempDir(), "laptop.key")
	if err := os.WriteFile(path, []byte(k.Encode()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.ImportKeyFile(path)
	if w.scheme.Selected != "hyp" || w.name.Text != "laptop" || w.secretErr.Visible() {
		t.Errorf("after import: scheme %q name %q err %q", w.scheme.Selected, w.name.Text, w.secretErr.Text)
	}
	if !strings.Contains(w.notice.Text, "Type the gateway's host") {
		t.Errorf("notice = %q", w.notice.Text)
	}
	w.SetCommandPath(`/opt/My VPN/connect`)
	w.command.SetText(w.command.Text + " --profile laptop")
	if args, _ := command.Split(w.command.Text); !slices.Equal(args, []string{"/opt/My VPN/connect", "--profile", "laptop"}) {
		t.Errorf("command %q splits into %q", w.command.Text, args)
	}
	test.Type(w.host, "10.77.3.1")
	if !w.Save() {
		t.Fatalf("save: %s", errorsShown(w))
	}
	p, _ := b.profile("laptop")
	if !b.secret("laptop").Equal(k) || p.Params != sequence.HypDefaults() || len(p.Command) != 3 {
		t.Errorf("saved %+v", p)
	}

	w.ImportKeyFile(filepath.Join(t.TempDir(), "missing.key"))
	if !w.secretErr.Visible() || !strings.Contains(w.secretErr.Text, "missing.key") {
		t.Errorf("error for a missing key file = %q", w.secretErr.Text)
	}
}

// "Test knock" lists each step as it happens, a running step replaced by
// its end.
func TestTestKnockShowsSteps(t *testing.T) {
	w, tr, b := newTestWindow(t)
	w.list.Select(0)
	test.Tap(w.test)
	if r := <-b.started; r.name != "office" || r.connect {
		t.Fatalf("started %+v, want Knock(office)", r)
	}
	b.feed(t, Step{Title: "Knocking", Detail: "sending 4 datagrams", State: StepRunning})
	if got := w.StepsText(); got != "… Knocking: sending 4 datagrams" {
		t.Errorf("steps = %q", got)
	}
	b.feed(t, Step{Title: "Checking", Detail: "waiting for tcp/22", State: StepRunning})
	if got := w.StepsText(); got != "✓ Knocking: sending 4 datagrams\n… Checking: waiting for tcp/22" {
		t.Errorf("steps = %q", got)
	}
	b.feed(t, Step{Title: "Checking", Detail: "tcp/22 answered", State: StepOK})
	b.end(t, nil)
	tr.Wait()
	want := "✓ Knocking: sending 4 datagrams\n✓ Checking: tcp/22 answered"
	if got := w.StepsText(); got != want {
		t.Errorf("steps = %q, want %q", got, want)
	}
}

func TestQRAndRemove(t *testing.T) {
	w, _, b := newTestWindow(t)
	test.Tap(w.newBtn)
	if _, err := w.QR(); err == nil {
		t.Error("QR of an unsaved profile")
	}
	w.list.Select(0)
	img, err := w.QR()
	if err != nil {
		t.Fatal(err)
	}
	if d := img.Bounds().Dx(); d < 200 || d != img.Bounds().Dy() {
		t.Errorf("QR image is %v", img.Bounds())
	}
	test.Tap(w.qrB)
	if w.formErr.Visible() {
		t.Errorf("Show QR: %s", w.formErr.Text)
	}
	w.Remove()
	if _, ok := b.profile("office"); ok {
		t.Error("office still saved")
	}
	if w.current != "" || len(w.profiles) != 0 {
		t.Errorf("after remove: current %q, %d profiles listed", w.current, len(w.profiles))
	}
	if !slices.Contains(labels(w.tray.Menu()), "No profiles yet") {
		t.Errorf("tray menu after remove: %q", labels(w.tray.Menu()))
	}
}

// Golden images of the window: a saved profile, and a new one with errors.
func TestProfileWindowImages(t *testing.T) {
	w, _, _ := newTestWindow(t)
	w.list.Select(0)
	test.AssertImageMatches(t, "profile_window.png", w.win.Canvas().Capture())

	test.Tap(w.newBtn)
	test.Type(w.uri, "hyp://gw.example?secret=AAAA")
	test.Tap(w.apply)
	test.Type(w.name, "lab")
	test.Type(w.host, "gw.example:22")
	test.Tap(w.save)
	test.AssertImageMatches(t, "profile_window_errors.png", w.win.Canvas().Capture())
}

func errorsShown(w *ProfileWindow) string {
	var s []string
	for _, l := range []*struct{ n, t string }{
		{"uri", w.uriErr.Text}, {"name", w.nameErr.Text}, {"host", w.hostErr.Text}, {"check", w.checkErr.Text},
		{"secret", w.secretErr.Text}, {"command", w.cmdErr.Text}, {"keep-alive", w.keepErr.Text}, {"uses", w.usesErr.Text},
		{"form", w.formErr.Text},
	} {
		if l.t != "" {
			s = append(s, l.n+": "+l.t)
		}
	}
	return strings.Join(s, "; ")
}

// fakeAutostart is an autostart store in memory that fails when told to.
type fakeAutostart struct {
	on   bool
	fail error
}

func (f *fakeAutostart) Enabled() (bool, error) { return f.on, nil }

func (f *fakeAutostart) SetEnabled(on bool) error {
	if f.fail != nil {
		return f.fail
	}
	f.on = on
	return nil
}

func TestStartAtLogin(t *testing.T) {
	a := test.NewTempApp(t)
	as := &fakeAutostart{}
	tr := NewTray(a, newFake(), Options{Notify: (&notes{}).notify, Autostart: as})
	tr.Show(&fakeHost{}, nil)
	t.Cleanup(func() { tr.cancel(); tr.Wait() })
	w := tr.ShowWindow()
	if !w.login.Visible() || w.login.Checked {
		t.Fatalf("start at login: visible %v, checked %v; want shown, off", w.login.Visible(), w.login.Checked)
	}
	test.Tap(w.login)
	if !as.on || !w.login.Checked {
		t.Fatalf("after ticking: store %v, box %v", as.on, w.login.Checked)
	}
	test.Tap(w.login)
	if as.on || w.login.Checked {
		t.Fatalf("after unticking: store %v, box %v", as.on, w.login.Checked)
	}
	as.fail = errors.New("permission denied")
	test.Tap(w.login)
	if as.on || w.login.Checked {
		t.Fatalf("a failed change left: store %v, box %v", as.on, w.login.Checked)
	}
	if !w.notice.Visible() || !strings.Contains(w.notice.Text, "Start at login: permission denied") {
		t.Fatalf("notice %q (visible %v)", w.notice.Text, w.notice.Visible())
	}
}

func TestStartAtLoginHiddenWithoutStore(t *testing.T) {
	w, _, _ := newTestWindow(t)
	if w.login.Visible() {
		t.Fatal("the start-at-login box shows without an autostart store")
	}
}

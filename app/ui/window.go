package ui

import (
	"fmt"
	"image"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
	"rsc.io/qr"

	"github.com/hideyourports/hyp/app/command"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/keyfile"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// ProfileWindow lists the saved profiles and edits one. Its widgets are
// fields so tests can type into them and tap them like a user would. Every
// method runs on fyne's goroutine (callbacks, fyne.Do), which is what
// serialises access to the fields.
type ProfileWindow struct {
	win     fyne.Window
	backend Backend
	tray    *Tray

	profiles []Profile
	current  string          // the name the edited profile is saved under; "" = new
	params   sequence.Params // scheme settings of the edited profile (from its URI)

	notice *widget.Label
	list   *widget.List

	uri, name, host, check, secret, command               *widget.Entry
	keepAlive, uses                                       *widget.Entry
	scheme                                                *widget.Select
	alwaysOn                                              *widget.Check
	uriErr, nameErr, hostErr, checkErr, secretErr, cmdErr *widget.Label
	keepErr, usesErr                                      *widget.Label
	formErr                                               *widget.Label

	apply, importKey, browse                 *widget.Button
	newBtn, save, remove, test, connect, qrB *widget.Button
	asService                                *widget.Button // nil without a HelperBackend

	login *widget.Check // "Start at login"; hidden without an Autostart

	steps    *widget.Label
	stepList []Step // what steps shows
	form     *widget.Form
}

func newProfileWindow(a fyne.App, b Backend, t *Tray) *ProfileWindow {
	w := &ProfileWindow{win: a.NewWindow("hyp profiles"), backend: b, tray: t, params: sequence.Defaults()}

	w.notice = widget.NewLabel("")
	w.notice.Wrapping = fyne.TextWrapWord
	w.notice.Importance = widget.WarningImportance
	w.notice.Hide()

	w.list = widget.NewList(
		func() int { return len(w.profiles) },
		func() fyne.CanvasObject { return widget.NewLabel("profile name") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(w.profiles[i].Name) },
	)
	w.list.OnSelected = func(i widget.ListItemID) {
		if i >= 0 && i < len(w.profiles) {
			w.load(w.profiles[i])
		}
	}
	w.newBtn = widget.NewButton("New", w.clear)
	w.login = widget.NewCheck("Start at login", nil)
	w.initLogin(t.login)

	// The URI holds the secret, so it is masked like the secret itself.
	w.uri = widget.NewPasswordEntry()
	w.uri.SetPlaceHolder("paste a hyp:// URI")
	w.uri.OnSubmitted = func(string) { w.applyURI() }
	w.apply = widget.NewButton("Use", w.applyURI)
	w.importKey = widget.NewButton("Key file…", w.pickKeyFile)

	w.name = widget.NewEntry()
	w.name.SetPlaceHolder("e.g. office")
	w.host = widget.NewEntry()
	w.host.SetPlaceHolder("gateway name or address")
	// v3's realm has no field: it comes with the URI (or the key file) and stays with the
	// profile through an edit; sites are the CLI's (hyp site add).
	w.scheme = widget.NewSelect([]string{string(sequence.V2), string(sequence.V3), string(sequence.Hyp)}, w.schemeChanged)
	w.scheme.SetSelected(string(sequence.V2))
	w.check = widget.NewEntry()
	w.check.SetPlaceHolder("tcp/22 (optional)")
	w.secret = widget.NewPasswordEntry()
	w.command = widget.NewEntry()
	w.command.SetPlaceHolder("VPN command (optional), e.g. wg-quick up office")
	w.browse = widget.NewButton("Browse…", w.pickCommand)
	w.keepAlive = widget.NewEntry()
	w.keepAlive.SetPlaceHolder("off, or e.g. 25s: knock again this often while connected")
	w.uses = widget.NewEntry()
	w.uses.SetPlaceHolder("1: knocks per time step the gateway accepts for this key")
	w.alwaysOn = widget.NewCheck("Connect when hyp starts", nil)

	w.uriErr, w.nameErr, w.hostErr, w.checkErr = errLabel(), errLabel(), errLabel(), errLabel()
	w.secretErr, w.cmdErr, w.formErr = errLabel(), errLabel(), errLabel()
	w.keepErr, w.usesErr = errLabel(), errLabel()

	w.save = widget.NewButton("Save", func() { w.Save() })
	w.remove = widget.NewButton("Remove", w.confirmRemove)
	w.test = widget.NewButton("Test knock", func() { w.run(ModeKnock) })
	w.connect = widget.NewButton("Knock & Connect", func() { w.run(ModeConnect) })
	w.qrB = widget.NewButton("Show QR", w.showQR)
	w.save.Importance = widget.HighImportance

	w.steps = widget.NewLabel("")
	w.steps.Wrapping = fyne.TextWrapWord

	w.form = widget.NewForm(
		widget.NewFormItem("URI", field(container.NewBorder(nil, nil, nil, container.NewHBox(w.apply, w.importKey), w.uri), w.uriErr)),
		widget.NewFormItem("Name", field(w.name, w.nameErr)),
		widget.NewFormItem("Host", field(w.host, w.hostErr)),
		widget.NewFormItem("Scheme", w.scheme),
		widget.NewFormItem("Check", field(w.check, w.checkErr)),
		widget.NewFormItem("Secret", field(w.secret, w.secretErr)),
		widget.NewFormItem("VPN command", field(container.NewBorder(nil, nil, nil, w.browse, w.command), w.cmdErr)),
		widget.NewFormItem("Keep-alive", field(w.keepAlive, w.keepErr)),
		widget.NewFormItem("Uses", field(w.uses, w.usesErr)),
		widget.NewFormItem("Always on", w.alwaysOn),
	)
	buttons := container.NewHBox(w.save, w.test, w.connect, w.qrB, w.remove)
	if w.asService = w.serviceButton(); w.asService != nil {
		buttons.Add(w.asService)
	}
	editor := container.NewVBox(w.form, w.formErr, buttons, widget.NewSeparator(), w.steps)
	left := container.NewBorder(nil, container.NewVBox(w.newBtn, w.login), nil, nil, w.list)
	split := container.NewHSplit(left, container.NewVScroll(editor))
	split.Offset = 0.25

	var footer fyne.CanvasObject
	if t != nil && t.logPath != "" {
		// A Windows GUI program has no console: say where its errors go.
		footer = widget.NewLabel("Log: " + t.logPath)
	}
	w.win.SetContent(container.NewBorder(w.notice, footer, nil, nil, split))
	w.win.Resize(fyne.NewSize(820, 580))
	w.clear()
	return w
}

// initLogin shows the autostart setting as it is, and changes it when the
// box is ticked; a failure is said in the notice and the box goes back.
func (w *ProfileWindow) initLogin(a Autostart) {
	if a == nil {
		w.login.Hide()
		return
	}
	on, err := a.Enabled()
	if err != nil {
		w.Notice(fmt.Sprintf("Start at login: %v", err))
	}
	w.login.SetChecked(on)
	w.login.OnChanged = func(want bool) {
		err := a.SetEnabled(want)
		if err == nil {
			return
		}
		w.Notice(fmt.Sprintf("Start at login: %v", err))
		cb := w.login.OnChanged
		w.login.OnChanged = nil
		w.login.SetChecked(!want)
		w.login.OnChanged = cb
	}
}

// errLabel is the red line under a field that says what is wrong with it.
func errLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.Hide()
	return l
}

func field(o fyne.CanvasObject, errl *widget.Label) fyne.CanvasObject {
	return container.NewVBox(o, errl)
}

// setErr shows err under its field, or hides the line. Containers lay out
// when refreshed, not when a child appears, so the window is refreshed.
func (w *ProfileWindow) setErr(l *widget.Label, err error) {
	if err == nil {
		if !l.Visible() {
			return
		}
		l.SetText("")
		l.Hide()
	} else {
		l.SetText(err.Error())
		l.Show()
	}
	if c := w.win.Content(); c != nil {
		c.Refresh()
	}
}

// Window returns the fyne window (to show it, or to capture it in tests).
func (w *ProfileWindow) Window() fyne.Window { return w.win }

// Notice shows a message at the top of the window.
func (w *ProfileWindow) Notice(text string) {
	w.notice.SetText(text)
	w.notice.Show()
}

// reload reads the profiles again and keeps the edited one selected.
func (w *ProfileWindow) reload() {
	ps, err := w.backend.Profiles()
	if err != nil {
		w.setErr(w.formErr, fmt.Errorf("reading profiles: %w", err))
	}
	w.profiles = ps
	w.list.Refresh()
	for i, p := range ps {
		if p.Name == w.current {
			w.list.Select(i)
			return
		}
	}
}

// clear empties the editor for a new profile.
func (w *ProfileWindow) clear() {
	w.current = ""
	w.list.UnselectAll()
	w.fill(Profile{Params: sequence.Defaults()})
	w.secret.SetPlaceHolder("base32 secret (or paste a URI, or import a key file)")
	w.clearSteps()
	w.setSaved(false)
}

// load puts a saved profile into the editor.
func (w *ProfileWindow) load(p Profile) {
	w.current = p.Name
	w.fill(p)
	if p.HasSecret {
		w.secret.SetPlaceHolder("stored in the keyring; type to replace")
	} else {
		w.secret.SetPlaceHolder("no secret stored: type or import one")
	}
	w.clearSteps()
	w.setSaved(true)
}

func (w *ProfileWindow) fill(p Profile) {
	w.params = p.Params
	w.uri.SetText("")
	w.name.SetText(p.Name)
	w.host.SetText(p.Host)
	w.scheme.SetSelected(string(p.Params.Scheme))
	w.check.SetText("")
	if p.CheckPort != 0 {
		w.check.SetText("tcp/" + strconv.Itoa(int(p.CheckPort)))
	}
	w.secret.SetText("")
	w.command.SetText(command.Join(p.Command))
	w.keepAlive.SetText("")
	if p.KeepAlive > 0 {
		w.keepAlive.SetText(p.KeepAlive.String())
	}
	w.uses.SetText("")
	if p.Uses > 0 {
		w.uses.SetText(strconv.Itoa(p.Uses))
	}
	w.alwaysOn.SetChecked(p.AlwaysOn)
	for _, l := range []*widget.Label{w.uriErr, w.nameErr, w.hostErr, w.checkErr, w.secretErr, w.cmdErr, w.keepErr, w.usesErr, w.formErr} {
		w.setErr(l, nil)
	}
}

// setSaved enables what needs a saved profile.
func (w *ProfileWindow) setSaved(saved bool) {
	for _, b := range []*widget.Button{w.remove, w.qrB, w.asService} {
		if b == nil {
			continue
		}
		if saved {
			b.Enable()
		} else {
			b.Disable()
		}
	}
}

// schemeChanged applies the chosen scheme by sequence.Fields.Apply's rule,
// as a URI or key file would: the edited settings stay for their own scheme,
// another starts from its defaults.
func (w *ProfileWindow) schemeChanged(s string) {
	w.params, _ = w.withScheme(s)
}

// withScheme is w.params with scheme s applied, or w.params and why not.
func (w *ProfileWindow) withScheme(s string) (sequence.Params, error) {
	p, _, err := sequence.Fields{Scheme: new(sequence.Scheme(s))}.Apply(w.params)
	return p, err
}

// applyURI fills the editor from a pasted hyp:// URI, or says what is wrong
// with it beside the field.
func (w *ProfileWindow) applyURI() {
	text := strings.TrimSpace(w.uri.Text)
	if text == "" {
		w.setErr(w.uriErr, fmt.Errorf("paste a hyp:// URI first"))
		return
	}
	p, warnings, err := profile.Parse(text)
	if err != nil {
		w.setErr(w.uriErr, err)
		return
	}
	w.setErr(w.uriErr, nil)
	name := p.Name
	if name == "" {
		name = w.name.Text
	}
	// A URI carries no keep-alive, uses or always-on: what the editor holds stays.
	keepAlive, uses, alwaysOn := w.keepAlive.Text, w.uses.Text, w.alwaysOn.Checked
	w.fill(Profile{Name: name, Host: p.Host, Params: p.Params, CheckPort: p.CheckPort, Command: w.commandArgs()})
	w.keepAlive.SetText(keepAlive)
	w.uses.SetText(uses)
	w.alwaysOn.SetChecked(alwaysOn)
	w.secret.SetText(p.Key.Encode())
	if len(warnings) > 0 {
		w.Notice("From the URI: " + strings.Join(warnings, "; "))
	}
}

// commandArgs is the command field as argv, ignoring a quoting error (fill
// only round-trips it).
func (w *ProfileWindow) commandArgs() []string {
	args, _ := command.Split(w.command.Text)
	return args
}

func (w *ProfileWindow) pickKeyFile() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			w.setErr(w.secretErr, err)
			return
		}
		if r == nil {
			return
		}
		path := r.URI().Path()
		_ = r.Close()
		w.ImportKeyFile(path)
	}, w.win)
	d.Show()
}

// ImportKeyFile reads a key file into the editor with core/keyfile, the
// reader hyp and hypd use. A reference hyp client's file holds only the key,
// so the scheme becomes hyp; the gateway's TOML key file (what `hypd secret
// new` writes) also brings the knock settings, the uses and a check port.
// Neither names the gateway: the user types the host.
func (w *ProfileWindow) ImportKeyFile(path string) {
	kf, err := keyfile.ReadFile(path)
	if err != nil {
		w.setErr(w.secretErr, err)
		return
	}
	if err := w.applyKeyFile(kf); err != nil {
		w.setErr(w.secretErr, keyfile.In(path, err))
		return
	}
	w.setErr(w.secretErr, nil)
	w.secret.SetText(kf.Secret.Encode())
	if w.name.Text == "" {
		w.name.SetText(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	}
	w.Notice(fmt.Sprintf("Key read from %s. Type the gateway's host, then Save.", filepath.Base(path)))
	w.win.Canvas().Focus(w.host)
}

// applyKeyFile sets the scheme, uses and check port a key file implies,
// checking all of them before it changes any field.
func (w *ProfileWindow) applyKeyFile(kf *keyfile.File) error {
	if !kf.TOML {
		w.scheme.SetSelected(string(sequence.Hyp))
		return nil
	}
	// A file that names no scheme has the gateway's default, which the
	// gateway's own default (v2) stands in for.
	params, err := kf.Params(sequence.Defaults())
	if err != nil {
		return err
	}
	uses, hasUses, err := kf.Int("uses")
	if err == nil && hasUses && (uses < 1 || uses > sequence.MaxUses) {
		err = &keyfile.Error{Line: kf.Line("uses"), Field: "uses", Msg: fmt.Sprintf("must be 1..%d, got %d", sequence.MaxUses, uses)}
	}
	if err != nil {
		return err
	}
	w.scheme.SetSelected(string(params.Scheme))
	w.params = params
	if hasUses {
		w.uses.SetText(strconv.FormatInt(uses, 10))
	}
	if port := kf.CheckPort(); port != 0 && strings.TrimSpace(w.check.Text) == "" {
		w.check.SetText("tcp/" + strconv.Itoa(int(port)))
	}
	return nil
}

func (w *ProfileWindow) pickCommand() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			w.setErr(w.cmdErr, err)
			return
		}
		if r == nil {
			return
		}
		w.SetCommandPath(r.URI().Path())
		_ = r.Close()
	}, w.win)
	d.Show()
}

// SetCommandPath puts a picked program into the command field, quoted if its
// path has spaces, keeping the arguments already typed.
func (w *ProfileWindow) SetCommandPath(path string) {
	args := w.commandArgs()
	if len(args) > 0 {
		args[0] = path
	} else {
		args = []string{path}
	}
	w.command.SetText(command.Join(args))
	w.setErr(w.cmdErr, nil)
}

// Save validates the editor, showing each error beside its field, and
// stores the profile; the secret goes to the backend (the keyring) and leaves
// the field. It reports whether the profile was saved.
func (w *ProfileWindow) Save() bool {
	ok := true
	fail := func(l *widget.Label, err error) {
		w.setErr(l, err)
		if err != nil {
			ok = false
		}
	}
	w.setErr(w.formErr, nil)

	name := strings.TrimSpace(w.name.Text)
	fail(w.nameErr, w.backend.ValidName(name))

	host, err := profile.ParseHost(strings.TrimSpace(w.host.Text))
	if strings.TrimSpace(w.host.Text) == "" {
		err = fmt.Errorf("the gateway's host name or address is needed")
	}
	fail(w.hostErr, err)

	var checkPort uint16
	if c := strings.TrimSpace(w.check.Text); c != "" {
		checkPort, err = profile.ParseCheck(c)
		fail(w.checkErr, err)
	} else {
		fail(w.checkErr, nil)
	}

	var key psk.Key
	if s := strings.TrimSpace(w.secret.Text); s != "" {
		key, err = psk.Parse(s)
		fail(w.secretErr, err)
	} else if w.current == "" {
		fail(w.secretErr, fmt.Errorf("a new profile needs its secret: paste a URI, import a key file or type it"))
	} else {
		fail(w.secretErr, nil)
	}

	cmd, err := command.Split(w.command.Text)
	fail(w.cmdErr, err)

	keepAlive, err := parseKeepAlive(w.keepAlive.Text)
	fail(w.keepErr, err)

	params, err := w.withScheme(w.scheme.Selected)
	if err != nil {
		fail(w.formErr, fmt.Errorf("scheme settings: %w", err))
	}
	w.params = params
	uses, err := parseUses(w.uses.Text, params.Scheme)
	fail(w.usesErr, err)
	if !ok {
		return false
	}

	p := Profile{Name: name, Host: host, Params: params, CheckPort: checkPort, Command: cmd,
		KeepAlive: keepAlive, Uses: uses, AlwaysOn: w.alwaysOn.Checked}
	if err := w.backend.Save(w.current, p, key); err != nil {
		w.setErr(w.formErr, fmt.Errorf("saving %s: %w", name, err))
		return false
	}
	w.secret.SetText("")
	w.current = name
	w.reload()
	w.tray.Reload()
	return true
}

// parseKeepAlive reads the keep-alive field: empty, "0" or "off" turn it off;
// anything else is a Go duration (25s, 1m30s) of at least
// profiles.MinKeepAlive, so a typo cannot flood the gateway.
func parseKeepAlive(text string) (time.Duration, error) {
	text = strings.TrimSpace(text)
	if text == "" || text == "0" || strings.EqualFold(text, "off") {
		return 0, nil
	}
	d, err := time.ParseDuration(text)
	switch {
	case err != nil:
		return 0, fmt.Errorf("keep-alive %q: want a duration such as 25s or 1m, or off", text)
	case d < 0:
		return 0, fmt.Errorf("keep-alive %v: must not be negative", d)
	case d < profiles.MinKeepAlive:
		return 0, fmt.Errorf("keep-alive %v: must be at least %v (or off)", d, profiles.MinKeepAlive)
	}
	return d, nil
}

// parseUses reads the uses field: empty means the default, 1. The gateway's
// uses setting of the key is what belongs here; scheme hyp counts no uses.
func parseUses(text string, scheme sequence.Scheme) (int, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(text)
	switch {
	case err != nil:
		return 0, fmt.Errorf("uses %q: want a whole number, 1..%d", text, sequence.MaxUses)
	case n < 1 || n > sequence.MaxUses:
		return 0, fmt.Errorf("uses %d: must be 1..%d", n, sequence.MaxUses)
	case n > 1 && scheme == sequence.Hyp:
		return 0, fmt.Errorf("uses %d: scheme hyp has no use counter, so a key is good for one knock a step", n)
	}
	return n, nil
}

func (w *ProfileWindow) confirmRemove() {
	name := w.current
	if name == "" {
		return
	}
	dialog.ShowConfirm("Remove "+name, "Remove the profile "+name+" and its secret from the keyring?", func(yes bool) {
		if yes {
			w.Remove()
		}
	}, w.win)
}

// Remove deletes the edited profile without asking (the button asks first).
func (w *ProfileWindow) Remove() {
	if err := w.backend.Remove(w.current); err != nil {
		w.setErr(w.formErr, fmt.Errorf("removing %s: %w", w.current, err))
		return
	}
	w.clear()
	w.reload()
	w.tray.Reload()
}

// run saves the editor, then knocks with it, listing each step below.
func (w *ProfileWindow) run(mode Mode) {
	if !w.Save() {
		return
	}
	w.clearSteps()
	if !w.tray.Start(w.current, mode, w.showStep) {
		w.steps.SetText(w.current + " is already knocking")
	}
}

// showStep adds a step to the list. A step still running when the next one
// arrives has ended well (the flow moved on); the end of the same step
// replaces its running line.
func (w *ProfileWindow) showStep(s Step) {
	if n := len(w.stepList); n > 0 && w.stepList[n-1].State == StepRunning {
		if w.stepList[n-1].Title == s.Title && s.State != StepRunning {
			w.stepList = w.stepList[:n-1]
		} else {
			w.stepList[n-1].State = StepOK
		}
	}
	w.stepList = append(w.stepList, s)
	lines := make([]string, len(w.stepList))
	for i, st := range w.stepList {
		lines[i] = st.String()
	}
	w.steps.SetText(strings.Join(lines, "\n"))
}

// clearSteps empties the step list.
func (w *ProfileWindow) clearSteps() {
	w.stepList = nil
	w.steps.SetText("")
}

// StepsText is the step list as shown (for tests).
func (w *ProfileWindow) StepsText() string { return w.steps.Text }

// showQR shows the saved profile's URI as a QR code, to carry it to a phone
// or another machine by camera.
func (w *ProfileWindow) showQR() {
	img, err := w.QR()
	if err != nil {
		w.setErr(w.formErr, err)
		return
	}
	c := canvas.NewImageFromImage(img)
	c.FillMode = canvas.ImageFillContain
	c.ScaleMode = canvas.ImageScalePixels
	c.SetMinSize(fyne.NewSize(300, 300))
	warn := widget.NewLabel("This code holds the secret: show it only to the device that should knock.")
	warn.Wrapping = fyne.TextWrapWord
	dialog.ShowCustom("QR code: "+w.current, "Close", container.NewBorder(nil, warn, nil, nil, c), w.win)
}

// QR renders the saved profile's URI as a QR code image.
func (w *ProfileWindow) QR() (image.Image, error) {
	if w.current == "" {
		return nil, fmt.Errorf("save the profile first")
	}
	uri, err := w.backend.URI(w.current)
	if err != nil {
		return nil, fmt.Errorf("reading the URI of %s: %w", w.current, err)
	}
	code, err := qr.Encode(uri, qr.M)
	if err != nil {
		return nil, fmt.Errorf("encoding the QR code of %s: %w", w.current, err)
	}
	return code.Image(), nil
}

package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"github.com/hideyourports/hyp/assets"
)

// Mode is what a click asks for.
type Mode int

// Modes of a run.
const (
	ModeConnect Mode = iota // knock, check, start the VPN command
	ModeKnock               // knock and check only
)

// Label is the menu and button text of the mode.
func (m Mode) Label() string {
	if m == ModeKnock {
		return "Knock only"
	}
	return "Knock & Connect"
}

// State is what the tray icon shows.
type State int

// Tray icon states.
const (
	Idle State = iota
	Working
	OK
	Failed
)

func (s State) String() string {
	return [...]string{"idle", "working", "ok", "failed"}[s]
}

// Result is how the last run ended.
type Result struct {
	Profile string
	Mode    Mode
	Err     error
	Last    Step // the last step the backend reported
	WasUp   bool // the connection had come up (and has now ended)
	At      time.Time
	// Site is the site of the profile the run knocked last (connected to, if it did); "" for a
	// profile without sites.
	Site string
}

// via names the site a profile with sites connected to, for a status line.
func via(site string) string {
	if site == "" {
		return ""
	}
	return " via site " + site
}

// String is the result as the tray's status line shows it.
func (r Result) String() string {
	at := r.At.Format("15:04:05")
	switch {
	case r.WasUp && errors.Is(r.Err, context.Canceled):
		return fmt.Sprintf("%s disconnected at %s", r.Profile, at)
	case r.Err != nil:
		return fmt.Sprintf("%s failed at %s: %s", r.Profile, at, shorten(r.Err.Error(), 80))
	case r.Mode == ModeKnock:
		return fmt.Sprintf("%s knocked%s at %s", r.Profile, via(r.Site), at)
	}
	return fmt.Sprintf("%s connected%s at %s", r.Profile, via(r.Site), at)
}

// run is one knock or connection in progress.
type run struct {
	cancel context.CancelFunc
	up     bool   // the connection came up; the run lasts until it ends
	site   string // the site of the last step that named one
}

// TrayHost is the part of fyne's desktop.App the tray uses, so tests can
// watch the menu and the icon without a system tray.
type TrayHost interface {
	SetSystemTrayMenu(menu *fyne.Menu)
	SetSystemTrayIcon(icon fyne.Resource)
}

// Options are the Tray's outside-world hooks; zero values mean the real ones.
type Options struct {
	Now    func() time.Time
	Notify func(n *fyne.Notification) // nil: the app's desktop notification
	// Autostart is the "Start at login" switch the window shows; nil
	// hides it (a system without an autostart store).
	Autostart Autostart
	// ServicePoll is how often a HelperBackend's helper is asked for live
	// state; 0 => DefaultHelperPoll.
	ServicePoll time.Duration
	LogPath     string // where the app logs, shown in the window ("": stderr, not shown)
}

// Autostart turns starting the tray app at login on and off;
// app/autostart has the real ones.
type Autostart interface {
	Enabled() (bool, error)
	SetEnabled(on bool) error
}

// Tray runs knocks for the menu and the profile window and shows how they
// go: the tray icon, the status line of the menu and a notification for each
// result. Without a tray host it is still the runner behind the window.
type Tray struct {
	app     fyne.App
	backend Backend
	now     func() time.Time
	notify  func(n *fyne.Notification)
	login   Autostart
	poll    time.Duration
	icons   [4]fyne.Resource
	logPath string

	ctx    context.Context // cancelled by Quit: stops every run
	cancel context.CancelFunc
	runs   sync.WaitGroup // the run goroutines, so Quit can wait for them

	// mu guards the fields below. They are written on fyne's goroutine
	// (menu actions, fyne.Do callbacks) and read by tests and by Start,
	// which a window button may call.
	mu       sync.Mutex
	host     TrayHost
	window   *ProfileWindow
	profiles []Profile
	loadErr  error
	running  map[string]*run
	status   string
	state    State
	last     *Result
	menu     *fyne.Menu
	// service and serviceErr are the helper's profiles (HelperBackend).
	service    []HelperProfile
	serviceErr error
}

// NewTray makes the tray controller; Show puts it on screen.
func NewTray(a fyne.App, b Backend, o Options) *Tray {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tray{
		app: a, backend: b, now: o.Now, notify: o.Notify, login: o.Autostart, poll: o.ServicePoll, logPath: o.LogPath,
		ctx: ctx, cancel: cancel,
		running: map[string]*run{},
		status:  "No knock yet",
		icons: [4]fyne.Resource{
			fyne.NewStaticResource("tray-idle.png", assets.TrayIdle()),
			fyne.NewStaticResource("tray-working.png", assets.TrayWorking()),
			fyne.NewStaticResource("tray-ok.png", assets.TrayOK()),
			fyne.NewStaticResource("tray-failed.png", assets.TrayFailed()),
		},
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.notify == nil {
		t.notify = func(n *fyne.Notification) {
			a.SendNotification(&fyne.Notification{Title: nativeNote(n.Title), Content: nativeNote(n.Content)})
		}
	}
	return t
}

// Show puts the tray on screen. With host nil (no tray on this desktop;
// noTray says why) it opens the profile window instead, tells the user why
// once, and closing that window quits.
func (t *Tray) Show(host TrayHost, noTray error) {
	t.mu.Lock()
	t.host = host
	t.mu.Unlock()
	t.Reload()
	t.watchService(t.poll)
	t.connectAlwaysOn()
	if host != nil {
		host.SetSystemTrayIcon(t.icons[Idle])
		return
	}
	w := t.ShowWindow()
	w.win.SetMaster()
	why := "no system tray was found"
	if noTray != nil {
		why = noTray.Error()
	}
	w.Notice(fmt.Sprintf("hyp runs in this window because %s. Closing it quits hyp.", why))
}

// connectAlwaysOn connects each saved profile marked always-on, once, as its
// Knock & Connect would. A profile the helper service lists is left to the
// helper, which keeps it up already: both would run its VPN command. The
// helper is asked off fyne's goroutine, for at most a few seconds.
func (t *Tray) connectAlwaysOn() {
	t.mu.Lock()
	var names []string
	for _, p := range t.profiles {
		if p.AlwaysOn {
			names = append(names, p.Name)
		}
	}
	t.mu.Unlock()
	if len(names) == 0 {
		return
	}
	sb, ok := t.backend.(HelperBackend)
	if !ok {
		for _, name := range names {
			t.Start(name, ModeConnect, nil)
		}
		return
	}
	t.runs.Add(1)
	go func() {
		defer t.runs.Done()
		ctx, cancel := context.WithTimeout(t.ctx, 3*time.Second)
		// An error (no helper, or no answer) leaves every profile to the tray.
		helperHas, err := sb.HelperProfiles(ctx)
		cancel()
		fyne.Do(func() {
			if t.ctx.Err() != nil {
				return // quitting
			}
			for _, name := range names {
				if err == nil && slices.ContainsFunc(helperHas, func(p HelperProfile) bool { return p.Name == name }) {
					continue
				}
				t.Start(name, ModeConnect, nil)
			}
		})
	}()
}

// Reload reads the profiles again and rebuilds the menu.
func (t *Tray) Reload() {
	ps, err := t.backend.Profiles()
	t.mu.Lock()
	t.profiles, t.loadErr = ps, err
	t.mu.Unlock()
	t.refresh()
}

// Menu returns the menu as last built (for tests and the window).
func (t *Tray) Menu() *fyne.Menu {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.menu
}

// State returns what the tray icon shows and the status line.
func (t *Tray) State() (State, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state, t.status
}

// Last returns the last result, if any run has ended.
func (t *Tray) Last() (Result, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		return Result{}, false
	}
	return *t.last, true
}

// entry is one row of the menu table; a zero entry is a separator.
type entry struct {
	label    string
	action   func()
	disabled bool
	quit     bool
}

// entries is the menu as a table, built from the profiles and the last
// result. Called with mu held.
func (t *Tray) entries() []entry {
	var es []entry
	for _, p := range t.profiles {
		name, r := p.Name, t.running[p.Name]
		if r != nil && r.up {
			es = append(es, entry{label: "Disconnect: " + name, action: func() { t.Disconnect(name) }})
		} else {
			es = append(es, entry{label: ModeConnect.Label() + ": " + name, action: func() { t.Start(name, ModeConnect, nil) }, disabled: r != nil})
		}
		es = append(es, entry{label: ModeKnock.Label() + ": " + name, action: func() { t.Start(name, ModeKnock, nil) }, disabled: r != nil})
	}
	switch {
	case t.loadErr != nil:
		es = append(es, entry{label: "Profiles unreadable: " + shorten(t.loadErr.Error(), 60), disabled: true})
	case len(t.profiles) == 0 && len(t.service) == 0:
		es = append(es, entry{label: "No profiles yet", disabled: true})
	}
	es = append(es, t.serviceEntries()...)
	if t.serviceErr != nil {
		es = append(es, entry{label: shorten(t.serviceErr.Error(), 80), disabled: true})
	}
	return append(es,
		entry{},
		entry{label: "Manage profiles…", action: func() { t.ShowWindow() }},
		entry{},
		entry{label: t.status, disabled: true},
		entry{},
		entry{label: "Quit", action: t.Quit, quit: true},
	)
}

// refresh rebuilds the menu from the table and sets the icon.
func (t *Tray) refresh() {
	t.mu.Lock()
	var items []*fyne.MenuItem
	for _, e := range t.entries() {
		if e.label == "" {
			items = append(items, fyne.NewMenuItemSeparator())
			continue
		}
		it := fyne.NewMenuItem(nativeText(e.label), e.action)
		it.Disabled, it.IsQuit = e.disabled, e.quit
		items = append(items, it)
	}
	t.menu = fyne.NewMenu("hyp", items...)
	host, menu, icon := t.host, t.menu, t.icons[t.state]
	t.mu.Unlock()
	if host != nil {
		host.SetSystemTrayMenu(menu)
		host.SetSystemTrayIcon(icon)
	}
}

// Start runs a knock for a profile in the background; watch, if not nil, also
// sees every step (the window's step list). It returns false when that
// profile already has a run going.
func (t *Tray) Start(name string, mode Mode, watch func(Step)) bool {
	t.mu.Lock()
	if t.running[name] != nil {
		t.mu.Unlock()
		return false
	}
	ctx, cancel := context.WithCancel(t.ctx)
	t.running[name] = &run{cancel: cancel}
	t.state = Working
	t.status = fmt.Sprintf("%s: %s…", name, mode.Label())
	t.mu.Unlock()
	t.refresh()

	run := t.backend.Connect
	if mode == ModeKnock {
		run = t.backend.Knock
	}
	if svc, ok := t.serviceRun(name); ok {
		run = svc // the helper knocks and runs the command with its rights
	}
	t.runs.Add(1)
	go func() {
		defer t.runs.Done()
		defer cancel()
		var last Step
		// lastMu guards last: the backend may report from goroutines of
		// its own, and the result below reads it.
		var lastMu sync.Mutex
		err := run(ctx, name, func(s Step) {
			lastMu.Lock()
			last = s
			lastMu.Unlock()
			fyne.Do(func() {
				t.step(name, s)
				if watch != nil {
					watch(s)
				}
			})
		})
		lastMu.Lock()
		r := Result{Profile: name, Mode: mode, Err: err, Last: last, At: t.now()}
		lastMu.Unlock()
		fyne.Do(func() { t.finish(r) })
	}()
	return true
}

// step shows a step in the status line while a run is going; the step that
// says the connection is up counts as the result for the icon and the
// notification, since the run itself lasts as long as the VPN.
func (t *Tray) step(name string, s Step) {
	t.mu.Lock()
	r := t.running[name]
	if r == nil {
		t.mu.Unlock()
		return
	}
	wentUp := s.Up && !r.up
	if s.Site != "" {
		r.site = s.Site
	}
	switch {
	case wentUp:
		r.up = true
		t.status = fmt.Sprintf("%s connected%s at %s", name, via(r.site), t.now().Format("15:04:05"))
	case r.up && s.State != StepFailed:
		// Keep-alive knocks of a connection that is up: the status stays.
	default:
		t.status = shorten(name+": "+s.String(), 90)
	}
	t.state = t.stateLocked(OK)
	t.mu.Unlock()
	t.refresh()
	if wentUp {
		t.notify(&fyne.Notification{Title: "hyp: " + name + " connected" + via(r.site), Content: s.String()})
	}
}

// stateLocked is the icon state: working while any run has not come up,
// else the given state. Called with mu held.
func (t *Tray) stateLocked(settled State) State {
	for _, r := range t.running {
		if !r.up {
			return Working
		}
	}
	return settled
}

// finish records a result, sets the icon and sends its notification.
func (t *Tray) finish(r Result) {
	t.mu.Lock()
	if run := t.running[r.Profile]; run != nil {
		r.WasUp = run.up
		r.Site = run.site
	}
	delete(t.running, r.Profile)
	t.last = &r
	t.status = "Last: " + r.String()
	disconnected := r.WasUp && errors.Is(r.Err, context.Canceled)
	switch {
	case disconnected:
		t.state = t.stateLocked(Idle)
	case r.Err != nil:
		t.state = t.stateLocked(Failed)
	default:
		t.state = t.stateLocked(OK)
	}
	t.mu.Unlock()
	t.refresh()

	if errors.Is(r.Err, context.Canceled) && t.ctx.Err() != nil {
		return // quitting: nobody is waiting for this one
	}
	if r.WasUp && r.Err == nil {
		return // a launcher such as "wg-quick up" exited: "connected" was said when it started
	}
	n := &fyne.Notification{Title: "hyp: " + r.Profile}
	switch {
	case disconnected:
		n.Title += " disconnected"
		n.Content = r.Last.String()
	case r.Err != nil:
		n.Title += " failed"
		n.Content = r.Err.Error()
	case r.Mode == ModeKnock:
		n.Title += " knocked"
		n.Content = r.Last.String()
	default:
		n.Title += " connected" + via(r.Site)
		n.Content = r.Last.String()
	}
	t.notify(n)
}

// Disconnect ends a profile's run: the backend stops its VPN command.
func (t *Tray) Disconnect(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.running[name]; r != nil {
		r.cancel()
	}
}

// ShowWindow opens the profile window (making it the first time).
func (t *Tray) ShowWindow() *ProfileWindow {
	t.mu.Lock()
	w, tray := t.window, t.host != nil
	t.mu.Unlock()
	created := w == nil
	if created {
		// Only fyne's goroutine makes the window, so no second one can
		// appear between the check and here.
		w = newProfileWindow(t.app, t.backend, t)
		t.mu.Lock()
		t.window = w
		t.mu.Unlock()
	}
	if tray {
		// With a tray, closing the window hides it: hyp keeps running there.
		w.win.SetCloseIntercept(w.win.Hide)
	}
	w.reload()
	if created && len(w.profiles) > 0 {
		// Open on a profile rather than an empty editor: most visits are
		// to check or change one.
		w.list.Select(0)
	}
	w.win.Show()
	return w
}

// quitGrace bounds how long Quit waits for VPN commands to stop (the
// connect flow gives a command 5s between SIGTERM and SIGKILL).
const quitGrace = 6 * time.Second

// Quit stops every run (and so every VPN command the tray started), waits a
// bounded time for them to end, then quits the app.
func (t *Tray) Quit() {
	t.cancel()
	done := make(chan struct{})
	go func() {
		t.runs.Wait()
		close(done)
	}()
	go func() {
		select {
		case <-done:
		case <-time.After(quitGrace):
		}
		fyne.Do(t.app.Quit)
	}()
}

// Shutdown stops every run and waits up to grace for them to end; main calls
// it after the app's loop returns, however the app was asked to quit.
func (t *Tray) Shutdown(grace time.Duration) {
	t.cancel()
	done := make(chan struct{})
	go func() {
		t.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
	}
}

// Wait waits until every run goroutine has ended (after Quit, or in tests).
func (t *Tray) Wait() { t.runs.Wait() }

// shorten keeps menu lines and notifications to a readable length.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

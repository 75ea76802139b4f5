package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// HelperBackend is a Backend that can also reach the helper service (the
// privileged service that keeps always-on profiles up and runs their VPN
// commands with its rights). The tray finds it by a type assertion: with a
// plain Backend, or while no helper runs, the tray is what it always was.
type HelperBackend interface {
	Backend
	// HelperProfiles lists the helper's profiles with their live state;
	// an error wrapping ErrNoService means no helper is reachable.
	HelperProfiles(ctx context.Context) ([]HelperProfile, error)
	// HelperConnect asks the helper to knock for its profile name now and
	// bring it up; it returns once the profile is up.
	HelperConnect(ctx context.Context, name string, progress func(Step)) error
	// RunAsService hands the saved profile name, with its secret, to the
	// helper, asking for the rights that takes (polkit, UAC).
	RunAsService(ctx context.Context, name string) error
}

// ErrNoService: no helper service is reachable.
var ErrNoService = errors.New("no helper service")

// HelperProfile is one of the helper's profiles as the tray shows it.
type HelperProfile struct {
	Name      string
	Host      string
	Connected bool
	LastKnock time.Time
	LastError string
}

// serviceSuffix marks a helper profile in the menu and in the tray's runs; a
// saved profile's name cannot contain a space, so the two never mix.
const serviceSuffix = " (service)"

// DefaultHelperPoll is how often the tray asks the helper for live state.
const DefaultHelperPoll = 5 * time.Second

// serviceEntries are the menu rows of the helper's profiles. Called with mu held.
func (t *Tray) serviceEntries() []entry {
	var es []entry
	for _, p := range t.service {
		key := p.Name + serviceSuffix
		r := t.running[key]
		es = append(es,
			entry{label: ModeConnect.Label() + ": " + key, action: func() { t.Start(key, ModeConnect, nil) }, disabled: r != nil},
			entry{label: "    " + p.describe(), disabled: true})
	}
	return es
}

// describe is a helper profile's live state in a few words.
func (p HelperProfile) describe() string {
	state := "down"
	if p.Connected {
		state = "up"
	}
	if !p.LastKnock.IsZero() {
		state += ", knocked " + p.LastKnock.Local().Format("15:04:05")
	}
	if p.LastError != "" && !p.Connected {
		state += ": " + shorten(p.LastError, 60)
	}
	return state
}

// serviceRun is the run for a menu key naming a helper profile.
func (t *Tray) serviceRun(key string) (func(context.Context, string, func(Step)) error, bool) {
	name, ok := strings.CutSuffix(key, serviceSuffix)
	sb, isService := t.backend.(HelperBackend)
	if !ok || !isService {
		return nil, false
	}
	return func(ctx context.Context, _ string, progress func(Step)) error {
		return sb.HelperConnect(ctx, name, progress)
	}, true
}

// RefreshService asks the helper for its profiles and shows them. Without a
// helper the service rows go away; other errors are shown in place of them.
// It blocks for at most a few seconds: call it off fyne's goroutine.
func (t *Tray) RefreshService() {
	sb, ok := t.backend.(HelperBackend)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, 3*time.Second)
	defer cancel()
	ps, err := sb.HelperProfiles(ctx)
	if errors.Is(err, ErrNoService) {
		ps, err = nil, nil
	}
	fyne.Do(func() {
		t.mu.Lock()
		changed := !slices.Equal(ps, t.service) || (err == nil) != (t.serviceErr == nil)
		t.service, t.serviceErr = ps, err
		t.mu.Unlock()
		if changed {
			t.refresh()
		}
	})
}

// watchService refreshes the helper's rows every poll until the tray quits.
func (t *Tray) watchService(poll time.Duration) {
	if _, ok := t.backend.(HelperBackend); !ok {
		return
	}
	if poll <= 0 {
		poll = DefaultHelperPoll
	}
	t.runs.Add(1)
	go func() {
		defer t.runs.Done()
		tick := time.NewTicker(poll)
		defer tick.Stop()
		for {
			t.RefreshService()
			select {
			case <-t.ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// RunAsService hands a saved profile to the helper in the background and
// reports to done (on fyne's goroutine) how it went, and whether the helper
// now lists the profile (it does not when no helper runs: the profile waits
// in its store for the helper to start).
func (t *Tray) RunAsService(name string, done func(listed bool, err error)) bool {
	sb, ok := t.backend.(HelperBackend)
	if !ok {
		return false
	}
	t.runs.Add(1)
	go func() {
		defer t.runs.Done()
		// The elevation prompt waits for a person.
		ctx, cancel := context.WithTimeout(t.ctx, 5*time.Minute)
		defer cancel()
		err := sb.RunAsService(ctx, name)
		if err != nil {
			err = fmt.Errorf("handing %s to the helper service: %w", name, err)
		}
		t.RefreshService() // its fyne.Do runs before the one below
		fyne.Do(func() {
			t.mu.Lock()
			listed := slices.ContainsFunc(t.service, func(p HelperProfile) bool { return p.Name == name })
			t.mu.Unlock()
			switch {
			case err != nil:
				t.notify(&fyne.Notification{Title: "hyp: " + name + " not handed over", Content: err.Error()})
			case listed:
				t.notify(&fyne.Notification{Title: "hyp: " + name + " runs as a service", Content: "The helper service keeps it up now, with nobody logged in."})
			default:
				t.notify(&fyne.Notification{Title: "hyp: " + name + " handed to the helper service", Content: "The helper service is not running: it starts " + name + " when it starts (hyp helper start)."})
			}
			if done != nil {
				done(listed, err)
			}
		})
	}()
	return true
}

// serviceButton is "Run as a service…" when the backend can reach the
// helper; nil otherwise.
func (w *ProfileWindow) serviceButton() *widget.Button {
	if _, ok := w.backend.(HelperBackend); !ok {
		return nil
	}
	return widget.NewButton("Run as a service…", w.RunAsService)
}

// RunAsService hands the saved profile to the helper service; the step list
// says what happened (the platform asks for an administrator first).
func (w *ProfileWindow) RunAsService() {
	name := w.current
	if name == "" {
		return
	}
	w.clearSteps()
	w.showStep(Step{Title: "Run as a service", Detail: "handing " + name + " to the helper service (asks for an administrator)", State: StepRunning})
	w.tray.RunAsService(name, func(listed bool, err error) {
		switch {
		case err != nil:
			w.showStep(Step{Title: "Run as a service", Detail: err.Error(), State: StepFailed})
		case listed:
			w.showStep(Step{Title: "Run as a service", Detail: name + " runs as a service now: the tray lists it as \"" + name + serviceSuffix + "\"", State: StepOK})
		default:
			w.showStep(Step{Title: "Run as a service", Detail: name + " is in the helper's store; the helper service is not running, and starts it when it starts (hyp helper start)", State: StepOK})
		}
	})
}

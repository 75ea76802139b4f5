// Package corebackend is ui.Backend on the real client core: the profile
// store (settings file and OS keyring) and the connect flow. It only
// translates: the UI's Profile and Step are smaller than the core's, so the
// window and the menu stay testable with a fake, and this package is tested
// against the store with an in-memory keyring and a connector with fakes.
package corebackend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui"
	"github.com/hideyourports/hyp/core/psk"
)

// Backend implements ui.Backend.
type Backend struct {
	store *profiles.Store
	conn  *connect.Connector
}

// New returns the backend of a store and a connector.
func New(store *profiles.Store, conn *connect.Connector) *Backend {
	return &Backend{store: store, conn: conn}
}

var _ ui.Backend = (*Backend)(nil)

func (b *Backend) Profiles() ([]ui.Profile, error) {
	ps, err := b.store.List()
	if err != nil {
		return nil, err
	}
	out := make([]ui.Profile, 0, len(ps))
	for _, p := range ps {
		out = append(out, ui.Profile{
			Name: p.Name, Host: p.Host, Params: p.Params, CheckPort: p.CheckPort,
			Command:   slices.Clone(p.Command),
			KeepAlive: p.KeepAlive, Uses: p.Uses, AlwaysOn: p.AlwaysOn,
			// Put stores the key before the settings, so a listed profile
			// has one; asking the keyring for each would prompt or stall.
			HasSecret: true,
		})
	}
	slices.SortFunc(out, func(a, b ui.Profile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (b *Backend) ValidName(name string) error { return profiles.ValidateName(name) }

func (b *Backend) Save(previous string, p ui.Profile, key psk.Key) error {
	var saved profiles.Profile
	if previous != "" {
		// Start from what is stored, so settings the window does not show
		// (the gap, the secret file) survive an edit.
		s, err := b.store.Settings(previous)
		if err != nil {
			return err
		}
		saved = s
	} else {
		saved = profiles.FromURI(p.Name, saved.Profile)
	}
	saved.Name, saved.Host, saved.Params, saved.CheckPort = p.Name, p.Host, p.Params, p.CheckPort
	saved.Command = slices.Clone(p.Command)
	saved.KeepAlive, saved.Uses, saved.AlwaysOn = p.KeepAlive, p.Uses, p.AlwaysOn
	if len(saved.SiteList) > 0 {
		// The window shows a profile with sites as its first site: an edit of the host or realm
		// is that site's (the profile's own are the first site's whenever it is read).
		saved.SiteList[0].Host, saved.SiteList[0].Realm = p.Host, p.Params.Realm
	}
	if key.IsZero() {
		if previous == "" {
			return errors.New("a new profile needs its secret")
		}
		full, err := b.store.Get(previous)
		if err != nil {
			return fmt.Errorf("reading the stored secret: %w", err)
		}
		key = full.Key
	}
	saved.Key = key
	if err := saved.Validate(); err != nil {
		return err
	}
	if previous == "" || previous != p.Name {
		if err := b.store.Put(saved, false); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("a profile named %s exists already", p.Name)
			}
			return err
		}
		if previous != "" {
			if _, err := b.store.Remove(previous); err != nil {
				return fmt.Errorf("saved as %s, but removing the old name %s: %w", p.Name, previous, err)
			}
		}
		return nil
	}
	return b.store.Put(saved, true)
}

func (b *Backend) Remove(name string) error {
	_, err := b.store.Remove(name)
	return err
}

func (b *Backend) URI(name string) (string, error) {
	p, err := b.store.Get(name)
	if err != nil {
		return "", err
	}
	return p.URI(), nil
}

func (b *Backend) Connect(ctx context.Context, name string, progress func(ui.Step)) error {
	p, err := b.store.Get(name)
	if err != nil {
		return err
	}
	return b.conn.Run(ctx, p, func(s connect.Step) { progress(uiStep(p, s)) })
}

func (b *Backend) Knock(ctx context.Context, name string, progress func(ui.Step)) error {
	p, err := b.store.Get(name)
	if err != nil {
		return err
	}
	p.KeepAlive = 0 // a test knock never lingers
	return b.conn.KnockOnly(ctx, p, func(s connect.Step) { progress(uiStep(p, s)) })
}

// stepTitle is a connect step kind as the window's step list shows it.
func stepTitle(k connect.StepKind) string {
	switch k {
	case connect.Knocking:
		return "Knocking"
	case connect.Checking:
		return "Checking"
	case connect.Connected:
		return "Connected"
	case connect.Launched:
		return "Launched"
	case connect.KeepAlive:
		return "Keep-alive"
	case connect.Exited:
		return "Exited"
	case connect.Stopped:
		return "Stopped"
	case connect.Failed:
		return "Failed"
	}
	return k.String()
}

// uiStep translates a connect step. The connection is "up" (the run goes on
// while it lasts) once the VPN command has started, or, for a profile with
// keep-alive and no command, once the gateway opened.
func uiStep(p profiles.Profile, s connect.Step) ui.Step {
	u := ui.Step{Title: stepTitle(s.Kind), Detail: s.Text(), State: ui.StepOK, Site: s.Site}
	switch {
	case s.Kind == connect.Knocking || s.Kind == connect.Checking:
		u.State = ui.StepRunning
	case s.Kind == connect.Failed || s.Err != nil:
		u.State = ui.StepFailed
	}
	u.Up = s.Kind == connect.Launched || (s.Kind == connect.Connected && len(p.Command) == 0 && p.KeepAlive > 0)
	return u
}

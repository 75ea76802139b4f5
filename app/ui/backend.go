// Package ui is the hyp tray app's face: the tray menu and the profile window,
// written against a small Backend interface rather than the profile store and
// the connect flow themselves.
//
// The package never imports fyne.io/fyne/v2/app: only app/cmd/hyp-tray picks
// the real driver. So everything here runs under fyne's test driver with
// CGO_ENABLED=0 and no display, and the tests tap the very menu items and
// buttons a user would, against a fake Backend whose steps they control.
//
// Work reaches the UI from background goroutines through fyne.Do, the one
// way fyne allows; widgets are never touched from a knock's goroutine directly.
package ui

import (
	"context"
	"fmt"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// Backend is what the UI needs from the client core (the profile store and the
// knock-and-connect flow). The UI holds no secret longer than it takes to hand
// it to Save, and asks for one only to draw a QR code.
type Backend interface {
	// Profiles lists the saved profiles, sorted by name.
	Profiles() ([]Profile, error)
	// ValidName reports why name cannot be a profile name, or nil.
	ValidName(name string) error
	// Save stores p under p.Name. previous is the name it was saved under
	// ("" for a new profile), so a rename moves the stored secret along. A
	// zero key keeps the secret already stored.
	Save(previous string, p Profile, key psk.Key) error
	// Remove deletes a profile and its secret.
	Remove(name string) error
	// URI returns the profile's full hyp:// URI, secret included, for export.
	URI(name string) (string, error)
	// Connect knocks, waits until the check port answers (if the profile
	// has one), then starts the profile's VPN command. progress sees each
	// step as it starts and ends.
	Connect(ctx context.Context, name string, progress func(Step)) error
	// Knock knocks and checks, without starting the VPN command.
	Knock(ctx context.Context, name string, progress func(Step)) error
}

// Profile is a saved gateway as the UI shows and edits it. The secret is not
// here: the UI only ever writes it (Backend.Save) and reads it as a URI.
type Profile struct {
	Name      string
	Host      string
	Params    sequence.Params
	CheckPort uint16   // 0: no check
	Command   []string // the VPN command as argv; empty: knock only
	HasSecret bool     // a secret is stored for this profile
	// KeepAlive re-knocks at this interval while connected; 0: off.
	KeepAlive time.Duration
	// Uses is how many knocks per time step the gateway accepts for the key
	// (its uses setting); 0 means 1.
	Uses int
	// AlwaysOn: the tray connects the profile when it starts.
	AlwaysOn bool
}

// StepState is where a step of a knock stands.
type StepState int

// Step states.
const (
	StepRunning StepState = iota
	StepOK
	StepFailed
)

// Step is one stage of a knock or a connection as the user reads it:
// "Knock: sent 4 datagrams to 10.77.0.1".
type Step struct {
	Title  string
	Detail string
	State  StepState
	// Up says the connection is up: the VPN command runs, and the run goes on
	// (keep-alive knocks) until the command ends or the user disconnects.
	Up bool
	// Site is the site of a profile with sites that the step is about; the
	// last one a run reports is the site it connected to.
	Site string
}

// String is the step as one line of the step list.
func (s Step) String() string {
	mark := "…"
	switch s.State {
	case StepOK:
		mark = "✓"
	case StepFailed:
		mark = "✗"
	}
	if s.Detail == "" {
		return fmt.Sprintf("%s %s", mark, s.Title)
	}
	return fmt.Sprintf("%s %s: %s", mark, s.Title, s.Detail)
}

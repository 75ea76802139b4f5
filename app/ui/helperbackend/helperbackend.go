// Package helperbackend is ui.HelperBackend on the real client: the user's
// own profiles (any ui.Backend, in practice corebackend) plus the helper
// service reached over app/helperipc, and the platform's way of asking for
// an administrator when a profile is handed over to the helper.
package helperbackend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui"
)

// Backend implements ui.HelperBackend.
type Backend struct {
	ui.Backend
	Store  *profiles.Store   // the user's profiles, for the hand-over
	Client *helperipc.Client // nil => the platform's default channel
	// Elevate runs argv as an administrator, with stdin; nil => the
	// platform's way (pkexec on Linux, a UAC prompt on Windows).
	Elevate func(ctx context.Context, argv []string, stdin string) error
	// Hyp is the hyp CLI; "" => the hyp next to this executable, else on PATH.
	Hyp string
}

var _ ui.HelperBackend = (*Backend)(nil)

func (b *Backend) client() *helperipc.Client {
	if b.Client != nil {
		return b.Client
	}
	return &helperipc.Client{}
}

// HelperProfiles implements ui.HelperBackend.
func (b *Backend) HelperProfiles(ctx context.Context) ([]ui.HelperProfile, error) {
	ps, err := b.client().List(ctx)
	if errors.Is(err, helperipc.ErrNoHelper) {
		return nil, fmt.Errorf("%w: %w", ui.ErrNoService, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]ui.HelperProfile, len(ps))
	for i, p := range ps {
		out[i] = ui.HelperProfile{Name: p.Name, Host: p.Host, Connected: p.Connected, LastKnock: p.LastKnock, LastError: p.LastError}
	}
	return out, nil
}

// HelperConnect implements ui.HelperBackend. The steps are the helper's;
// none says "up" the way a local run does, since the connection is the
// helper's and outlives this request.
func (b *Backend) HelperConnect(ctx context.Context, name string, progress func(ui.Step)) error {
	return b.client().Connect(ctx, name, func(s helperipc.Step) {
		st := ui.Step{Title: "Helper: " + s.Kind, Detail: s.Message, State: ui.StepOK}
		switch {
		case s.Kind == "failed" || s.Err != "":
			st.State = ui.StepFailed
		case s.Kind == "knocking" || s.Kind == "checking":
			st.State = ui.StepRunning
		}
		progress(st)
	})
}

// RunAsService implements ui.HelperBackend: root hands the profile over
// directly; anyone else runs 'hyp helper add --force NAME -' as an
// administrator (see platformElevate), which hands it to a running helper
// or writes the helper's store. The URI goes through stdin, never argv.
func (b *Backend) RunAsService(ctx context.Context, name string) error {
	p, err := b.Store.Get(name)
	if err != nil {
		return err
	}
	uri := p.URI()
	if b.Elevate == nil && os.Geteuid() == 0 && runtime.GOOS != "windows" {
		var sites []helperipc.Site
		for _, s := range p.SiteList {
			sites = append(sites, helperipc.Site{Name: s.Name, Host: s.Host, Realm: s.Realm, Check: s.CheckPort})
		}
		return b.client().Add(ctx, helperipc.HandOver{Name: name, URI: helperipc.NewSecret(uri), Command: p.Command,
			KeepAlive: p.KeepAlive, Gap: p.Gap, Uses: p.Uses, Replace: true, Sites: sites})
	}
	hyp, err := b.hyp()
	if err != nil {
		return err
	}
	argv := []string{hyp, "helper", "add", "--force"}
	if b.Client != nil && b.Client.Address != "" {
		argv = append(argv, "--socket", b.Client.Address)
	}
	// The command root will run is on the elevated command line, where the polkit dialog (and
	// the elevated hyp, which refuses one it was not shown) can see it.
	if len(p.Command) == 0 {
		argv = append(argv, "--no-command", name, "-")
	} else {
		argv = append(append(argv, name, "-", "--"), p.Command...)
	}
	elevate := b.Elevate
	if elevate == nil {
		elevate = platformElevate
	}
	if err := elevate(ctx, argv, uri+"\n"); err != nil {
		return err
	}
	return b.awaitListed(ctx, name)
}

// ListWait bounds how long RunAsService waits for a running helper to list
// the profile: a UAC prompt's process is not waited for (ShellExecute), and
// the elevated 'hyp helper add' hands the profile over some time later.
const ListWait = 2 * time.Minute

// awaitListed returns once a running helper lists name, at once when no
// helper runs (the profile waits in its store), or an error when the helper
// runs but never lists it.
func (b *Backend) awaitListed(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, ListWait)
	defer cancel()
	for {
		ps, err := b.client().List(ctx)
		if errors.Is(err, helperipc.ErrNoHelper) || errors.Is(err, helperipc.ErrDenied) {
			return nil // nothing to watch; the tray says what it can see
		}
		if err == nil && slices.ContainsFunc(ps, func(p helperipc.ProfileState) bool { return p.Name == name }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the helper service does not list %s after %v: the elevated 'hyp helper add' failed or was not allowed", name, ListWait)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// hyp finds the CLI: packages install it next to hyp-tray.
func (b *Backend) hyp() (string, error) {
	if b.Hyp != "" {
		return b.Hyp, nil
	}
	name := "hyp"
	if runtime.GOOS == "windows" {
		name = "hyp.exe"
	}
	if exe, err := os.Executable(); err == nil {
		next := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(next); err == nil {
			return next, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("finding the hyp command to hand the profile over with: %w", err)
	}
	return filepath.Abs(p)
}

// runAs runs argv with stdin and returns its error with what it printed.
func runAs(ctx context.Context, argv []string, stdin string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			return fmt.Errorf("%s: %w", argv[0], err)
		}
		return fmt.Errorf("%s (%w)", msg, err)
	}
	return nil
}

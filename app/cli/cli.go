// Package cli is the hyp command line: a table of subcommands, each with its
// own flags, and the exit-status rules scripts rely on (0 ok, 1 knocked but
// the check failed or the network did, 2 bad input).
//
// It lives outside package main so tests can run it in-process with a fake
// network and clock; app/cmd/hyp only wires up the OS (args, stdio, signals)
// and exits with what Run returns.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/internal/knocksock"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// Exit statuses.
const (
	ExitOK    = cmdline.ExitOK    // done (and the check answered, if one was asked for)
	ExitFail  = cmdline.ExitFail  // the knock went out but the check never answered, or the network failed
	ExitUsage = cmdline.ExitUsage // bad input: flags, URI, key file, unknown host
)

// Env is everything Run takes from the outside world. Nil network and clock
// fields mean the real ones.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	Version string // set at link time by the release build; empty reads the build info

	Now      func() time.Time
	Listen   func(ctx context.Context, network, address string) (net.PacketConn, error)
	Resolver knock.Resolver
	Dial     func(ctx context.Context, network, address string) (net.Conn, error)

	// LookupProfile resolves a saved profile name given as TARGET; nil =>
	// the profile store (Profiles). found=false means "not a saved profile",
	// and the argument is tried as a host name.
	LookupProfile func(name string) (p profile.Profile, found bool, err error)

	// Profiles opens the user's profile store; nil => profiles.Open with the
	// user's config directory and OS keyring.
	Profiles func() (*profiles.Store, error)

	// HelperDir is the helper service's store; "" => helperstore.DefaultDir() (app/helper/store).
	HelperDir string
	// HelperSocket is the helper's local channel; "" => helperipc.DefaultAddress.
	HelperSocket string

	// Launcher starts VPN commands for connect; nil => connect.ExecLauncher
	// with this Env's stdout and stderr.
	Launcher connect.Launcher

	// KnockState hands out the knock uses of knock and connect; nil => the
	// user's state file (knockstate.DefaultPath).
	KnockState knockstate.Reserver
}

func (e *Env) store() (*profiles.Store, error) {
	if e.Profiles != nil {
		return e.Profiles()
	}
	return profiles.Open(profiles.Options{})
}

// lookupSaved finds a saved profile by name, through LookupProfile when it
// is set (tests, embedders), else the profile store.
func (e *Env) lookupSaved(name string) (profiles.Profile, bool, error) {
	if profiles.ValidateName(name) != nil {
		return profiles.Profile{}, false, nil // cannot be a saved name: try it as a host
	}
	if e.LookupProfile != nil {
		p, found, err := e.LookupProfile(name)
		return profiles.FromURI(name, p), found, err
	}
	s, err := e.store()
	if err != nil {
		return profiles.Profile{}, false, err
	}
	return s.Lookup(name)
}

// listen opens knock sockets: Listen, or the system's (knocksock, which works under wine).
func (e *Env) listen() func(ctx context.Context, network, address string) (net.PacketConn, error) {
	if e.Listen != nil {
		return e.Listen
	}
	return knocksock.Listen
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Command is one entry of the command table (internal/cmdline, shared with hypd).
type Command = cmdline.Command[*Env]

// ExitError carries an exit status with its reason.
type ExitError = cmdline.ExitError

// usageError marks bad input (exit status 2).
func usageError(format string, a ...any) error { return cmdline.Usage(format, a...) }

// Commands is the command table, in the order "hyp help" lists it.
func Commands() []Command {
	cmds := []Command{
		sequenceCommand(),
		knockCommand(),
		connectCommand(),
	}
	cmds = append(cmds, profileCommands()...)
	cmds = append(cmds, siteCommands()...)
	return append(cmds, helperCommands()...)
}

// Program is hyp's command line: the table and how to describe it. version is what the release
// build linked in ("" reads the build info).
func Program(version string) *cmdline.Program[*Env] {
	return &cmdline.Program[*Env]{
		Name:    "hyp",
		Summary: "knock on a hyp gateway so that it opens a service for you",
		Description: `hyp sends a knock: a few empty UDP datagrams to ports derived from a pre-shared key and the
current 30-second time step. A hyp gateway (hypd) that holds the same key opens its protected
services for the knocking address, for a while. Keys come as hyp:// profile URIs; saved profiles
keep the secret in the operating system's keyring.`,
		Version: func() string {
			return fmt.Sprintf("hyp %s %s %s/%s", versionString(version), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
		Commands:   withProfileCompletion(Commands()),
		Complete:   complete,
		Sample:     &Env{},
		ManSection: 1,
		ManTail:    manTail,
		Status:     exitCode,
		Hint: func(err error) string {
			if errors.Is(err, profiles.ErrNoKeyring) || errors.As(err, new(*profiles.KeyringError)) {
				return "to keep the key in a 0600 file instead: hyp profile add NAME URI --secret-file FILE"
			}
			return ""
		},
	}
}

const manTail = `.SH EXIT STATUS
.TP
.B 0
Done (and, with \fB\-\-check\fR, the service answered).
.TP
.B 1
The knock went out but the check never answered, or the network failed.
.TP
.B 2
Bad input: a flag, a URI, a key file, an unknown host or profile.
.SH FILES
.TP
.I ~/.config/hyp/profiles.toml
Saved profiles, without their secrets (those are in the keyring).
.SH SEE ALSO
.BR hypd (8)
`

// exitCode is the exit status of err: an unknown host is bad input.
func exitCode(err error) int {
	if errors.As(err, new(*knock.ResolveError)) {
		return ExitUsage
	}
	return cmdline.ExitCode(err)
}

// Run runs the command line args (without the program name) and returns the
// exit status. Errors are printed to Stderr as one line.
func Run(ctx context.Context, env *Env, args []string) int {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	return Program(env.Version).Run(ctx, env, args, env.Stdout, env.Stderr)
}

// versionString is the version all of hyp's binaries print.
func versionString(linked string) string { return cmdline.VersionString(linked) }

// profileArgs are the commands whose positional arguments are (or may be) saved profile names.
func profileArgs() []string {
	return []string{"connect", "knock", "sequence", "profile show", "profile remove", "profile export", "helper add"}
}

// withProfileCompletion makes TAB offer the saved profiles' names where a command takes one.
func withProfileCompletion(cmds []Command) []Command {
	for i, c := range cmds {
		if !slices.Contains(profileArgs(), c.Name) {
			continue
		}
		v := map[string]string{"": "@profiles"}
		for k, val := range c.Values {
			if k != "" {
				v[k] = val
			}
		}
		cmds[i].Values = v
	}
	return cmds
}

// complete lists the words of a dynamic completion: the saved profiles' names (read from the
// profile store alone: no key is read, the keyring is not asked).
func complete(_ context.Context, env *Env, kind string) []string {
	if kind != "profiles" {
		return nil
	}
	s, err := env.store()
	if err != nil {
		return nil
	}
	all, err := s.List()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(all))
	for _, p := range all {
		names = append(names, p.Name)
	}
	return names
}

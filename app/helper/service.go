// Package helper is the client helper service: a background service (a systemd unit on Linux,
// a Windows service) that keeps access alive for always-on profiles on machines that must stay
// connected with nobody logged in. Like wireguard-windows' manager it is the one privileged
// process, and this package is what wires it together: installing and controlling the OS
// service (Control, Status), running it under the service manager (Run) with its log
// (OpenServiceLog), around the pieces in its own rooms:
//
//   - app/helper/store: the profiles the helper keeps, keys included (DPAPI-sealed on Windows);
//   - app/helper/perm: which files it may trust (the store's and its executable's owner and ACL);
//   - app/helper/elevate: the hand-over from an elevated `hyp helper add` to the user's rights;
//   - app/helper/keepalive: the keep-alive loops and their live state;
//   - app/helperipc: the local channel the user's tray and CLI talk to it over.
//
// Who may enter: installing, controlling and running the service needs root or an elevated
// administrator (perm.RequireAdmin); Status may be asked by anyone.
package helper

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hideyourports/hyp/app/helper/keepalive"
	"github.com/hideyourports/hyp/app/helper/perm"
	"github.com/hideyourports/hyp/internal/servicerun"
)

// ServiceName is the name of the service (systemd unit hyp-helper.service,
// Windows service hyp-helper).
const ServiceName = "hyp-helper"

// ServiceFlag is the argument on the installed service's command line that
// says the service manager started this process (`hyp helper run --service`).
// It is explicit, as wireguard-windows' /managerservice is, because guessing
// from the session goes wrong: wine runs services in session 1.
const ServiceFlag = "service"

// StopTimeout bounds a stop: the service manager is told the helper stopped
// within it, whatever a VPN command does with its SIGTERM.
const StopTimeout = servicerun.DefaultStopTimeout

// Config says how the service is installed.
type Config struct {
	Name       string // "" => ServiceName
	Dir        string // the helper store; "" => store.DefaultDir()
	Executable string // the hyp binary; "" => this executable
}

func (c Config) name() string {
	if c.Name == "" {
		return ServiceName
	}
	return c.Name
}

// command is the installed service's executable and arguments.
func (c Config) command() (exe string, args []string, err error) {
	exe = c.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", nil, fmt.Errorf("finding the hyp executable: %w", err)
		}
	}
	args = []string{"helper", "run", "--" + ServiceFlag}
	if c.Name != "" && c.Name != ServiceName {
		args = append(args, "--name", c.Name)
	}
	if c.Dir != "" {
		args = append(args, "--dir", c.Dir)
	}
	return exe, args, nil
}

const (
	displayName = "hyp client helper"
	description = "Keeps hyp gateways open for always-on profiles (keep-alive knocks), with nobody logged in."
)

// Run runs r until ctx ends or r fails (an empty or insecure store), and
// returns r's error. asService (ServiceFlag on the command line) runs it
// under the Windows service control manager, which then sees a failure as the
// service stopping with an error and applies its recovery actions; elsewhere
// the service manager (systemd) runs the foreground process.
func Run(ctx context.Context, cfg Config, r *keepalive.Runner, asService bool) error {
	return servicerun.Run(ctx, cfg.name(), asService, func(ctx context.Context, ready func()) error {
		prev := r.Ready
		r.Ready = func() {
			ready()
			if prev != nil {
				prev()
			}
		}
		err := r.Run(ctx)
		if err != nil && ctx.Err() == nil {
			// Logged before the service manager hears of the stop, so that a status asked
			// right after it can already show why.
			if r.Logf != nil {
				r.Logf("helper stopped: %v", err)
			}
		}
		return err
	})
}

// Control runs one of install, uninstall, start, stop, restart. note receives
// what a person should know although the action succeeded (a setting this
// system lacks).
func Control(cfg Config, action string, note func(string)) error {
	if err := perm.RequireAdmin("hyp helper " + action); err != nil {
		return err
	}
	switch action {
	case "install", "uninstall", "start", "stop", "restart":
	default:
		return fmt.Errorf("unknown service action %q", action)
	}
	if action == "install" {
		exe, _, err := cfg.command()
		if err != nil {
			return err
		}
		if err := perm.CheckExecutable(exe, note); err != nil {
			return fmt.Errorf("install %s: %w", cfg.name(), err)
		}
	}
	if err := control(cfg, action, note); err != nil {
		return fmt.Errorf("%s %s: %w", action, cfg.name(), err)
	}
	return nil
}

// ErrNotInstalled is returned by Status when the service is not installed.
var ErrNotInstalled = errors.New("the service is not installed")

// State is what Status reports.
type State struct {
	Running bool
	// Text is the state in words: "running", "stopped", "starting", ...; for a
	// service that stopped with an error it says so.
	Text string
}

// Status asks the service manager about the helper service (ErrNotInstalled
// when it is not installed).
func Status(cfg Config) (State, error) { return status(cfg) }

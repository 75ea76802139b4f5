package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"
)

// ServiceName is the name of the service (systemd unit hyp-helper.service,
// Windows service hyp-helper).
const ServiceName = "hyp-helper"

// StopTimeout bounds Stop: the service manager is told the helper stopped
// within it, whatever a VPN command does with its SIGTERM.
const StopTimeout = 10 * time.Second

// Config says how the service is installed.
type Config struct {
	Name       string // "" => ServiceName
	Dir        string // the helper store; "" => DefaultDir()
	Executable string // the hyp binary; "" => this executable
}

func (c Config) serviceConfig() (*service.Config, error) {
	exe := c.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding the hyp executable: %w", err)
		}
	}
	name := c.name()
	args := []string{"helper", "run"}
	if c.Dir != "" {
		args = append(args, "--dir", c.Dir)
	}
	sc := &service.Config{
		Name:        name,
		DisplayName: "hyp client helper",
		Description: "Keeps hyp gateways open for always-on profiles (keep-alive knocks), with nobody logged in.",
		Executable:  exe,
		Arguments:   args,
		Option: service.KeyValue{
			"Restart":                "on-failure",
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "10s",
			"DelayedAutoStart":       true,
		},
	}
	if runtime.GOOS == "linux" {
		// systemd lines for [Unit] (on Windows Dependencies are service
		// names): the first knock needs a route and DNS.
		sc.Dependencies = []string{"After=network-online.target", "Wants=network-online.target"}
	}
	return sc, nil
}

// Program is the kardianos/service program: Start launches the Runner in a
// goroutine and returns at once, Stop cancels it and waits at most
// StopTimeout.
type Program struct {
	Runner *Runner
	Parent context.Context // nil => context.Background(); cancelling it stops the runner too

	mu     sync.Mutex // guards cancel, done, err
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start implements service.Interface; it must not block.
func (p *Program) Start(service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("the helper is already running")
	}
	parent := p.Parent
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		err := p.Runner.Run(ctx)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		if err != nil {
			p.Runner.logf("helper stopped: %v", err)
		}
		close(p.done)
	}()
	return nil
}

// Stop implements service.Interface.
func (p *Program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-time.After(StopTimeout):
		return fmt.Errorf("the helper did not stop within %v", StopTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancel = nil
	return p.err
}

// started is Done, or a channel that never closes before Start.
func (p *Program) started() <-chan struct{} {
	for {
		if d := p.Done(); d != nil {
			return d
		}
		time.Sleep(10 * time.Millisecond) // RunWait runs right after Start
	}
}

// Done is closed when the runner has ended (by Stop or by an error such as an
// empty store); Err then says why.
func (p *Program) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Err is the runner's error once Done is closed.
func (p *Program) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// New returns the service for cfg, driving prog (nil for control actions
// that do not run the helper).
func New(cfg Config, prog *Program) (service.Service, error) {
	sc, err := cfg.serviceConfig()
	if err != nil {
		return nil, err
	}
	if prog == nil {
		prog = &Program{Runner: &Runner{}}
	} else {
		// Under systemd, return from Run when the runner gives up (an empty
		// or insecure store) as well as on SIGTERM, so the failure shows in
		// "systemctl status" and Restart=on-failure applies.
		sc.Option["RunWait"] = func() {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
			defer signal.Stop(sig)
			select {
			case <-sig:
			case <-prog.started():
			}
		}
	}
	s, err := service.New(prog, sc)
	if err != nil {
		return nil, fmt.Errorf("the helper service: %w", err)
	}
	return s, nil
}

// Control runs one of install, uninstall, start, stop, restart.
func Control(cfg Config, action string) error {
	if err := requireAdmin("hyp helper " + action); err != nil {
		return err
	}
	s, err := New(cfg, nil)
	if err != nil {
		return err
	}
	var do func() error
	switch action {
	case "install":
		do = s.Install
	case "uninstall":
		do = s.Uninstall
	case "start":
		do = s.Start
	case "stop":
		do = s.Stop
	case "restart":
		do = s.Restart
	default:
		return fmt.Errorf("unknown service action %q", action)
	}
	if err := do(); err != nil {
		return fmt.Errorf("%s %s: %w", action, cfg.name(), err)
	}
	return nil
}

func (c Config) name() string {
	if c.Name == "" {
		return ServiceName
	}
	return c.Name
}

// Status says whether the service runs: "running", "stopped", or an error
// (service.ErrNotInstalled when it is not installed).
func Status(cfg Config) (string, error) {
	s, err := New(cfg, nil)
	if err != nil {
		return "", err
	}
	st, err := s.Status()
	if errors.Is(err, service.ErrNotInstalled) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("asking the service manager about %s: %w", cfg.name(), err)
	}
	switch st {
	case service.StatusRunning:
		return "running", nil
	case service.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}

// ErrNotInstalled is returned by Status when the service is not installed.
var ErrNotInstalled = service.ErrNotInstalled

//go:build !windows

package helper

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/kardianos/service"

	"github.com/hideyourports/hyp/internal/servicerun"
)

// newService is the kardianos service that installs and controls the systemd unit.
func newService(cfg Config) (service.Service, error) {
	exe, args, err := cfg.command()
	if err != nil {
		return nil, err
	}
	sc := &service.Config{
		Name:        cfg.name(),
		DisplayName: displayName,
		Description: description,
		Executable:  exe,
		Arguments:   args,
		Option:      service.KeyValue{"Restart": "on-failure"},
	}
	if runtime.GOOS == "linux" {
		// systemd lines for [Unit]: the first knock needs a route and DNS.
		sc.Dependencies = []string{"After=network-online.target", "Wants=network-online.target"}
	}
	s, err := service.New(servicerun.Control(), sc)
	if err != nil {
		return nil, fmt.Errorf("the helper service: %w", err)
	}
	return s, nil
}

func control(cfg Config, action string, _ func(string)) error {
	s, err := newService(cfg)
	if err != nil {
		return err
	}
	switch action {
	case "install":
		return s.Install()
	case "uninstall":
		// kardianos only disables and removes the unit: stop a running helper first, or it
		// would go on running with no unit behind it.
		if st, err := s.Status(); err == nil && st == service.StatusRunning {
			if err := s.Stop(); err != nil {
				return fmt.Errorf("stopping it before removing it: %w", err)
			}
		}
		return s.Uninstall()
	case "start":
		return s.Start()
	case "stop":
		return s.Stop()
	}
	return s.Restart()
}

func status(cfg Config) (State, error) {
	s, err := newService(cfg)
	if err != nil {
		return State{}, err
	}
	st, err := s.Status()
	if errors.Is(err, service.ErrNotInstalled) {
		return State{}, ErrNotInstalled
	}
	if err != nil {
		return State{}, fmt.Errorf("asking the service manager about %s: %w", cfg.name(), err)
	}
	switch st {
	case service.StatusRunning:
		return State{Running: true, Text: "running"}, nil
	case service.StatusStopped:
		return State{Text: "stopped"}, nil
	}
	return State{Text: "unknown"}, nil
}

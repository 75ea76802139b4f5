//go:build !windows

package helper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"

	"github.com/hideyourports/hyp/internal/servicerun"
)

// systemdName is kardianos' name of the one service manager the helper is
// installed under on Linux.
const systemdName = "linux-systemd"

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

func control(cfg Config, action string, note func(string)) error {
	return controlOn(cfg, action, note, service.ChosenSystem().String(), "/")
}

// errNoSystemd is the refusal on a Linux host without systemd. kardianos
// would write SysV init scripts there that nothing checks: start said done
// and status running although the helper had exited.
func errNoSystemd(system string) error {
	return fmt.Errorf("this host does not run systemd (kardianos found %q): hyp installs the helper as a systemd unit only. "+
		"Run 'hyp helper run' as root from your init system instead (an OpenRC or runit service, restarted when it exits: it exits on an empty or insecure store)", system)
}

// controlOn is control for the service system named system (kardianos'
// name), with root the file system root where SysV leftovers are looked for.
func controlOn(cfg Config, action string, _ func(string), system, root string) error {
	if runtime.GOOS == "linux" && system != systemdName {
		if action == "uninstall" {
			// An older hyp installed SysV scripts here: remove them and their rc links.
			return removeSysV(root, cfg.name())
		}
		return errNoSystemd(system)
	}
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

// sysvScript is where kardianos put the init script of service name.
func sysvScript(root, name string) string { return filepath.Join(root, "etc", "init.d", name) }

// removeSysV deletes the init script of an older hyp's SysV install and the
// rc links kardianos made to it (/etc/rcN.d/S50NAME, K02NAME), which its own
// uninstall left behind. Nothing there is ErrNotInstalled.
func removeSysV(root, name string) error {
	script := sysvScript(root, name)
	links, err := filepath.Glob(filepath.Join(root, "etc", "rc?.d", "[SK][0-9][0-9]"+name))
	if err != nil {
		return err
	}
	found := false
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil || (target != script && target != filepath.Join("/etc/init.d", name) && !strings.HasSuffix(target, "/init.d/"+name)) {
			continue // not a link to our script: not ours to remove
		}
		if err := os.Remove(l); err != nil {
			return fmt.Errorf("removing the rc link %s: %w", l, err)
		}
		found = true
	}
	switch err := os.Remove(script); {
	case err == nil:
		found = true
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("removing the init script %s: %w", script, err)
	}
	if !found {
		return ErrNotInstalled
	}
	return nil
}

func status(cfg Config) (State, error) {
	return statusOn(cfg, service.ChosenSystem().String(), "/")
}

func statusOn(cfg Config, system, root string) (State, error) {
	if runtime.GOOS == "linux" && system != systemdName {
		// Nothing hyp installs runs here; an older hyp's init script is reported as what it is.
		if _, err := os.Lstat(sysvScript(root, cfg.name())); err == nil {
			return State{Text: "not managed: " + sysvScript(root, cfg.name()) + " is a SysV script an older hyp wrote, which says nothing true about the helper; remove it with 'hyp helper uninstall' and see 'hyp helper install'"}, nil
		}
		return State{}, ErrNotInstalled
	}
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

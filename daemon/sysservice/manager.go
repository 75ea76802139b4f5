package sysservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	kardianos "github.com/kardianos/service"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// Manager carries out hypd's service verbs. Everything it touches outside the service manager is
// a field, so tests drive it against a temporary root and a fake service.
type Manager struct {
	// Service is the OS service (kardianos.New with Config); tests pass a fake.
	Service kardianos.Service
	// Root prefixes every file path Manager reads or writes ("" is /); tests use a temp dir.
	Root string
	// ConfigPath is the config file the service runs with, as the service sees it.
	ConfigPath string
	// Executable is the hypd the unit runs; Source is the running binary. Install copies Source
	// to Executable when they differ (a hypd in /root or /tmp is invisible to the hardened unit).
	Executable, Source string
	// Out receives what the admin should read.
	Out io.Writer
	// Cleanup deletes the nftables table (firewall.Cleanup); used by Uninstall(purge).
	Cleanup func() error
	// Ping asks the running hypd for a one-line summary (over the control socket).
	Ping func(ctx context.Context) (string, error)
	// StartWait bounds how long Start and Restart wait for hypd to answer; 0 means 5 s.
	StartWait time.Duration
}

func (m *Manager) path(p string) string { return filepath.Join(m.Root, p) }

// State is the service's state in words: "running", "stopped", "not installed", or "unknown"
// with the service manager's own complaint.
func (m *Manager) State() string {
	st, err := m.Service.Status()
	switch {
	case errors.Is(err, kardianos.ErrNotInstalled):
		return "not installed"
	case err != nil:
		// The manager's own words ("exit status 1" from a tool it ran) say nothing alone.
		return fmt.Sprintf("unknown (%s cannot tell: %v)", m.Service.Platform(), err)
	case st == kardianos.StatusRunning:
		return "running"
	case st == kardianos.StatusStopped:
		return "stopped"
	}
	return "unknown"
}

// StateLine is one line for `hypd service-status`: the unit, who manages it, its state.
func (m *Manager) StateLine() string {
	owner := ""
	if p := m.packagedUnit(); p != "" {
		owner = ", from the package: " + p
	} else if _, err := os.Stat(m.path(UnitPath)); err == nil {
		owner = ", " + UnitPath
	}
	return fmt.Sprintf("service %s (%s%s): %s", Name, m.Service.Platform(), owner, m.State())
}

// Installed reports whether the service manager knows the service.
func (m *Manager) Installed() bool { return m.installed() }

// installed reports whether the service manager knows the service.
func (m *Manager) installed() bool {
	_, err := m.Service.Status()
	return !errors.Is(err, kardianos.ErrNotInstalled)
}

// packagedUnit returns the path of a unit that the .deb or .rpm installed, or "".
func (m *Manager) packagedUnit() string {
	for _, p := range PackagedUnitPaths() {
		if _, err := os.Stat(m.path(p)); err == nil {
			return p
		}
	}
	return ""
}

// Install writes the unit (enabled at boot, not started), after making sure the config file and
// the keys directory exist. A missing config file gets the commented defaults: no interfaces and
// no services, so nothing is hidden until the admin says what to hide.
func (m *Manager) Install() error {
	if p := m.packagedUnit(); p != "" {
		fmt.Fprintf(m.Out, "hypd.service is already installed by the hyp package (%s).\n", p)
		fmt.Fprintf(m.Out, "Enable and start it with: systemctl enable --now hypd\n")
		return nil
	}
	if m.installed() {
		return fmt.Errorf("the %s service is already installed (%s); run hypd uninstall first to reinstall it", Name, m.Service.Platform())
	}
	if err := hiddenFromService(m.ConfigPath); err != nil {
		return fmt.Errorf("config file %s: %w", m.ConfigPath, err)
	}
	cfg, created, err := m.ensureConfig()
	if err != nil {
		return err
	}
	if err := m.ensureExecutable(); err != nil {
		return err
	}
	if err := m.Service.Install(); err != nil {
		return fmt.Errorf("installing the %s service (%s): %w", Name, m.Service.Platform(), err)
	}
	fmt.Fprintf(m.Out, "installed the %s service (%s), enabled at boot, not started; it runs %s %s\n",
		Name, m.Service.Platform(), m.Executable, strings.Join(Arguments(m.ConfigPath), " "))
	if created {
		fmt.Fprintf(m.Out, "wrote the default config %s and the keys directory %s\n", m.ConfigPath, cfg.KeysDir)
	}
	fmt.Fprint(m.Out, nextSteps(m.ConfigPath, cfg))
	return nil
}

// nextSteps tells the admin what is left before hypd hides anything.
func nextSteps(configPath string, cfg config.Config) string {
	var b strings.Builder
	b.WriteString("\nNext:\n")
	n := 1
	if len(cfg.Interfaces) == 0 || len(cfg.Services) == 0 {
		fmt.Fprintf(&b, "  %d. set interfaces and services in %s, e.g. interfaces = [\"eth0\"], services = [\"tcp/22\"]\n", n, configPath)
		n++
	}
	fmt.Fprintf(&b, "  %d. make a key per agent:  hypd secret new NAME --host PUBLIC-NAME-OR-IP   (prints the hyp:// URI)\n", n)
	fmt.Fprintf(&b, "  %d. check, then start:     hypd check --config %s && hypd start\n", n+1, configPath)
	return b.String()
}

// ensureConfig loads the config file, writing the defaults (and the keys directory) if it is
// missing. It reports whether it wrote anything.
func (m *Manager) ensureConfig() (config.Config, bool, error) {
	p := m.path(m.ConfigPath)
	if _, err := os.Stat(p); err == nil {
		cfg, err := config.Load(p)
		if err != nil {
			return cfg, false, fmt.Errorf("existing config: %w", err)
		}
		if err := hiddenFromService(cfg.KeysDir); err != nil {
			return cfg, false, fmt.Errorf("%s: keys_dir %s: %w", m.ConfigPath, cfg.KeysDir, err)
		}
		return cfg, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return config.Config{}, false, fmt.Errorf("reading config file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return config.Config{}, false, fmt.Errorf("creating the config directory: %w", err)
	}
	if err := atomicfile.Create(p, []byte(config.DefaultTOML()), 0o644); err != nil {
		return config.Config{}, false, fmt.Errorf("writing the default config: %w", err)
	}
	cfg := config.Default()
	if err := os.MkdirAll(m.path(cfg.KeysDir), 0o700); err != nil {
		return cfg, true, fmt.Errorf("creating the keys directory: %w", err)
	}
	return cfg, true, nil
}

// hiddenFromService explains why the hardened unit would not see a path.
func hiddenFromService(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	for _, dir := range []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp"} {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			return fmt.Errorf("%s is hidden from the service (ProtectHome, PrivateTmp); use a path under /etc or /usr", dir)
		}
	}
	return nil
}

// ensureExecutable copies the running hypd to Executable when the unit is to run another path.
func (m *Manager) ensureExecutable() error {
	if m.Source == "" || m.Source == m.Executable {
		return nil
	}
	in, err := os.Open(m.Source)
	if err != nil {
		return fmt.Errorf("copying hypd for the service: %w", err)
	}
	defer in.Close()
	dst := m.path(m.Executable)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copying hypd for the service: %w", err)
	}
	if err := atomicfile.WriteFrom(dst, in, 0o755); err != nil {
		return fmt.Errorf("copying hypd to %s: %w", m.Executable, err)
	}
	fmt.Fprintf(m.Out, "copied %s to %s (the service cannot see %s)\n", m.Source, m.Executable, filepath.Dir(m.Source))
	return nil
}

// Uninstall stops the service and removes its unit. The nftables table stays, so the protected
// services stay hidden, unless purge is set: then the table and the spent-knock state go too.
// Config and keys are never deleted.
func (m *Manager) Uninstall(purge bool) error {
	if p := m.packagedUnit(); p != "" {
		return fmt.Errorf("hypd.service belongs to the hyp package (%s): remove the package instead (apt remove hyp, or dnf remove hyp)", p)
	}
	var errs []error
	if m.installed() {
		if m.State() == "running" {
			if err := m.Service.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping the %s service: %w", Name, err))
			}
		}
		if err := m.Service.Uninstall(); err != nil {
			errs = append(errs, fmt.Errorf("removing the %s service: %w", Name, err))
		} else {
			fmt.Fprintf(m.Out, "removed the %s service (%s)\n", Name, m.Service.Platform())
		}
	} else if !purge {
		return fmt.Errorf("the %s service is not installed", Name)
	}
	if !purge {
		fmt.Fprintln(m.Out, "the nftables table inet hyp stays: protected services remain hidden. `hypd cleanup` (or uninstall --purge) removes it.")
		return errors.Join(errs...)
	}
	if err := m.Cleanup(); err != nil {
		errs = append(errs, fmt.Errorf("deleting the nftables table: %w", err))
	} else {
		fmt.Fprintln(m.Out, "deleted the nftables table inet hyp: protected services are reachable again unless another firewall hides them")
	}
	stateDir := config.DefaultStateDir
	if cfg, err := config.Load(m.path(m.ConfigPath)); err == nil && cfg.StateDir != "" {
		stateDir = cfg.StateDir
	}
	if err := os.Remove(filepath.Join(m.path(stateDir), "spent.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("removing the spent-knock state: %w", err))
	}
	fmt.Fprintf(m.Out, "kept %s and its keys: delete them by hand if you want them gone\n", filepath.Dir(m.ConfigPath))
	return errors.Join(errs...)
}

// Start checks the config, starts the service and waits until hypd answers on its control socket.
func (m *Manager) Start(ctx context.Context) error {
	if !m.installed() {
		return fmt.Errorf("the %s service is not installed: run hypd install first", Name)
	}
	if err := m.preflight(); err != nil {
		return err
	}
	if err := m.Service.Start(); err != nil {
		return fmt.Errorf("starting the %s service: %w", Name, err)
	}
	return m.waitRunning(ctx, "started")
}

// Restart restarts the service; a restart keeps the table, so nothing is exposed meanwhile.
func (m *Manager) Restart(ctx context.Context) error {
	if err := m.preflight(); err != nil {
		return err
	}
	if err := m.Service.Restart(); err != nil {
		return fmt.Errorf("restarting the %s service: %w", Name, err)
	}
	return m.waitRunning(ctx, "restarted")
}

// Stop stops the service. The table stays: protected services remain hidden.
func (m *Manager) Stop() error {
	if err := m.Service.Stop(); err != nil {
		return fmt.Errorf("stopping the %s service: %w", Name, err)
	}
	fmt.Fprintln(m.Out, "stopped hypd; protected services stay hidden (the nftables table inet hyp stays). `hypd cleanup` removes it.")
	return nil
}

// ConfigError is a config that cannot run; the command line maps it to exit status 2.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// preflight refuses to start a service that would exit at once with a config error.
func (m *Manager) preflight() error {
	cfg, err := config.Load(m.path(m.ConfigPath))
	if err != nil {
		return &ConfigError{Err: err}
	}
	if len(cfg.Interfaces) == 0 {
		return &ConfigError{Err: fmt.Errorf("%s: no interfaces: set interfaces = [\"eth0\"] (the uplinks knocks arrive on)", m.ConfigPath)}
	}
	return nil
}

// waitRunning polls Ping until hypd answers, the service fails, or StartWait passes.
func (m *Manager) waitRunning(ctx context.Context, verb string) error {
	wait := m.StartWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		summary, err := m.Ping(ctx)
		if err == nil {
			fmt.Fprintf(m.Out, "%s hypd: %s\n", verb, summary)
			return nil
		}
		lastErr = err
		if _, serr := m.Service.Status(); serr != nil && !errors.Is(serr, kardianos.ErrNotInstalled) {
			return fmt.Errorf("hypd %s but then failed (%v); see journalctl -u %s", verb, serr, Name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hypd %s but did not answer within %s (%v); see journalctl -u %s", verb, wait, lastErr, Name)
		case <-tick.C:
		}
	}
}

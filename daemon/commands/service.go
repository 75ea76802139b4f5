package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	kardianos "github.com/kardianos/service"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/gateway"
	"github.com/hideyourports/hyp/daemon/service"
)

// serviceCommand is one service-management verb.
type serviceCommand struct {
	name, args, help string
	run              func(ctx context.Context, e *env, args []string) error
}

func serviceCommands() []serviceCommand {
	return []serviceCommand{
		{"install", "[--config FILE]", "install hypd as a system service (enabled at boot, not started); writes the default config if missing", runInstall},
		{"uninstall", "[--purge]", "stop and remove the service; --purge also deletes the nftables table (unhides) and the spent-knock state", runUninstall},
		{"start", "", "start the service and wait until hypd answers", runServiceAction("start")},
		{"stop", "", "stop the service; protected services stay hidden", runServiceAction("stop")},
		{"restart", "", "restart the service (the table stays in place meanwhile)", runServiceAction("restart")},
		{"service-status", "", "print the service manager's state of hypd (hypd status shows the gateway itself)", runServiceAction("service-status")},
		{"service-unit", "[--exec PATH] [--config FILE] [--kernel RELEASE]", "print the hardened systemd unit hypd install writes (the packages ship it)", runServiceUnit},
	}
}

// serviceVerb returns the handler of a service-management verb (install, start, ...), or nil.
func serviceVerb(name string) func(ctx context.Context, e *env, args []string) error {
	for _, c := range serviceCommands() {
		if c.name == name {
			return c.run
		}
	}
	return nil
}

// serviceVerbs lists the service verbs with their help, for usage.
func serviceVerbs() [][2]string {
	var out [][2]string
	for _, c := range serviceCommands() {
		out = append(out, [2]string{c.name, c.help})
		if c.args != "" {
			out = append(out, [2]string{"", "  " + c.name + " " + c.args})
		}
	}
	return out
}

// runManaged runs the gateway under the service manager when it started hypd (so a stop cancels
// it and a failure exits non-zero), and in the foreground otherwise. runGateway calls it.
func runManaged(ctx context.Context, run func(ctx context.Context) error) error {
	return service.Run(ctx, run)
}

func runInstall(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("hypd install", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("config", service.DefaultConfig, "config `file` the service runs with (written with the defaults if missing)")
	if err := fs.Parse(args); err != nil {
		return usageErrorWrap(err)
	}
	if fs.NArg() > 0 {
		return usageError("install: unexpected argument %q", fs.Arg(0))
	}
	abs, err := filepath.Abs(*cfgPath)
	if err != nil {
		return usageError("--config %q: %v", *cfgPath, err)
	}
	m, err := newManager(e, abs, true)
	if err != nil {
		return err
	}
	return m.Install()
}

func runUninstall(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("hypd uninstall", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	purge := fs.Bool("purge", false, "also delete the nftables table (protected services become reachable) and the spent-knock state; config and keys stay")
	if err := fs.Parse(args); err != nil {
		return usageErrorWrap(err)
	}
	if fs.NArg() > 0 {
		return usageError("uninstall: unexpected argument %q", fs.Arg(0))
	}
	m, err := newManager(e, "", false)
	if err != nil {
		return err
	}
	return m.Uninstall(*purge)
}

func runServiceAction(verb string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs := flag.NewFlagSet("hypd "+verb, flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		if err := fs.Parse(args); err != nil {
			return usageErrorWrap(err)
		}
		if fs.NArg() > 0 {
			return usageError("%s takes no arguments", verb)
		}
		m, err := newManager(e, "", false)
		if err != nil {
			return err
		}
		switch verb {
		case "start":
			err = m.Start(ctx)
		case "restart":
			err = m.Restart(ctx)
		case "stop":
			err = m.Stop()
		case "service-status":
			fmt.Fprintln(e.stdout, m.StateLine())
		}
		var ce *service.ConfigError
		if errors.As(err, &ce) {
			return &exitError{code: 2, err: err}
		}
		return err
	}
}

func runServiceUnit(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("hypd service-unit", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	exe := fs.String("exec", "", "`path` of hypd in the unit (default: this hypd)")
	cfgPath := fs.String("config", service.DefaultConfig, "config `file` in the unit")
	kernel := fs.String("kernel", "", "kernel `release` deciding the capabilities (default: the running kernel)")
	if err := fs.Parse(args); err != nil {
		return usageErrorWrap(err)
	}
	if fs.NArg() > 0 {
		return usageError("service-unit: unexpected argument %q", fs.Arg(0))
	}
	if *exe == "" {
		self, err := selfPath()
		if err != nil {
			return err
		}
		*exe = self
	}
	if *kernel == "" {
		*kernel, _ = service.KernelRelease()
	}
	unit, err := service.RenderUnit(*exe, *cfgPath, service.Capabilities(*kernel))
	if err != nil {
		return usageError("service-unit: %v", err)
	}
	_, err = fmt.Fprint(e.stdout, unit)
	return err
}

func selfPath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this hypd: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	return self, nil
}

// serviceExecutable is where the unit runs hypd from: this binary, unless the hardened unit
// could not see it there (ProtectHome, PrivateTmp), then a copy in /usr/local/sbin.
func serviceExecutable(self string) string {
	for _, dir := range []string{"/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"} {
		if strings.HasPrefix(self, dir) {
			return "/usr/local/sbin/hypd"
		}
	}
	return self
}

// newManager builds the Manager for this machine. configPath "" means: the one the installed
// unit names, else the default. forInstall computes the executable the unit should run.
func newManager(e *env, configPath string, forInstall bool) (*service.Manager, error) {
	self, err := selfPath()
	if err != nil {
		return nil, err
	}
	if configPath == "" {
		configPath = installedConfig()
	}
	exe := self
	if forInstall {
		exe = serviceExecutable(self)
	}
	kernel, _ := service.KernelRelease()
	svc, err := kardianos.New(noProgram{}, &kardianos.Config{
		Name:        service.Name,
		DisplayName: service.Name,
		Description: service.Description,
		Executable:  exe,
		Arguments:   service.Arguments(configPath),
		Option: kardianos.KeyValue{
			"SystemdScript": service.Script(service.Capabilities(kernel)),
			"Restart":       "on-failure",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("finding the service manager: %w", err)
	}
	m := &service.Manager{
		Service:    svc,
		ConfigPath: configPath,
		Executable: exe,
		Out:        e.stdout,
		Cleanup:    func() error { return firewall.Cleanup(gateway.Table, 0) },
		Ping:       pingControl,
	}
	if forInstall && exe != self {
		m.Source = self
	}
	return m, nil
}

// installedConfig reads the --config of the installed unit, so start and stop check the file the
// service really uses.
func installedConfig() string {
	for _, p := range append([]string{service.UnitPath}, service.PackagedUnitPaths()...) {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if c := service.ConfigFromUnit(string(b)); c != "" {
			return c
		}
	}
	return service.DefaultConfig
}

// pingControl asks the running hypd for a summary over its control socket.
func pingControl(ctx context.Context) (string, error) {
	st, err := control.NewClient(control.DefaultSocket).Status(ctx)
	if err != nil {
		return "", err
	}
	ifs := make([]string, 0, len(st.Interfaces))
	for name, mode := range st.Interfaces {
		ifs = append(ifs, name+" ("+mode+")")
	}
	sort.Strings(ifs)
	return fmt.Sprintf("%d key(s), interfaces %s, %d grant(s)", len(st.Keys), strings.Join(ifs, ", "), len(st.Grants)), nil
}

// noProgram is the service interface for managing (not running) the service: kardianos needs one.
type noProgram struct{}

func (noProgram) Start(kardianos.Service) error { return nil }
func (noProgram) Stop(kardianos.Service) error  { return nil }

// serviceStateLine is the service manager's one-line view of hypd, or "" when hypd is not
// installed as a service. runStatus can print it first, so `hypd status` also answers "is the
// service running?" when the control socket does not.
func serviceStateLine(e *env) string {
	m, err := newManager(e, "", false)
	if err != nil {
		return ""
	}
	// Only a definite answer is worth a line; an init system that cannot say (no systemd as
	// PID 1, a container) would only add noise above the daemon's own status.
	if st := m.State(); st != "running" && st != "stopped" {
		return ""
	}
	return m.StateLine()
}

package commands

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	kardianos "github.com/kardianos/service"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/sysservice"
	"github.com/hideyourports/hyp/internal/cmdline"
	"github.com/hideyourports/hyp/internal/servicerun"
)

// serviceCommands are the service-management verbs. Each works through the service manager
// where one runs and hypd is installed under it, and otherwise through the instance lock and the
// control socket (ops.go): hypd behaves the same in a container or a namespace without systemd.
func serviceCommands() []command {
	return []command{
		{Name: "init", Args: "[--config FILE]", Summary: "write the commented default config (if missing) and make the keys directory, with the right modes", Help: initHelp, Setup: initSetup},
		{Name: "install", Summary: "install hypd as a system service (enabled at boot, not started); writes the default config if missing", Setup: installSetup},
		{Name: "uninstall", Summary: "stop and remove the service; --purge also deletes the nftables table (unhides) and the spent-knock state", Setup: uninstallSetup},
		{Name: "start", Summary: "start hypd (the service, or hypd run in the background) and wait until it protects and answers", Help: startHelp, Setup: startSetup("start")},
		{Name: "stop", Summary: "stop the running hypd; protected services stay hidden", Setup: stopSetup},
		{Name: "restart", Summary: "stop and start hypd (the table stays in place meanwhile)", Setup: startSetup("restart")},
		{Name: "reload", Summary: "read the configuration and the keys again, as SIGHUP does, and say what changed", Setup: reloadSetup},
		{Name: "service-status", Summary: "say whether hypd runs and who started it; exit 0 running, 3 not running, 4 unknown (hypd status shows the gateway itself)", Setup: serviceStatusSetup},
		{Name: "service-unit", Summary: "print the hardened systemd unit hypd install writes (the packages ship it)", Setup: serviceUnitSetup},
	}
}

// runManaged runs the gateway under the service manager when it started hypd (so a stop cancels
// it and a failure exits non-zero), and in the foreground otherwise. runGateway calls it.
func runManaged(ctx context.Context, run func(ctx context.Context) error) error {
	return servicerun.Run(ctx, sysservice.Name, false, func(ctx context.Context, ready func()) error {
		ready() // hypd runs on Linux only, where nothing waits for it
		return run(ctx)
	})
}

func installSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	cfgPath := fs.String("config", sysservice.DefaultConfig, "config `FILE` the service runs with (written with the defaults if missing)")
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return runInstall(e, *cfgPath)
	}
}

func runInstall(e *env, cfgPath string) error {
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		return usageError("--config %q: %v", cfgPath, err)
	}
	m, err := newManager(e, abs, true)
	if err != nil {
		return err
	}
	return m.Install()
}

func uninstallSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	purge := fs.Bool("purge", false, "also delete the nftables table (protected services become reachable) and the spent-knock state; config and keys stay")
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		m, err := newManager(e, "", false)
		if err != nil {
			return err
		}
		return m.Uninstall(*purge)
	}
}

func serviceUnitSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	exe := fs.String("exec", "", "`PATH` of hypd in the unit (default: this hypd)")
	cfgPath := fs.String("config", sysservice.DefaultConfig, "config `FILE` in the unit")
	kernel := fs.String("kernel", "", "kernel `RELEASE` deciding the capabilities (default: the running kernel)")
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return runServiceUnit(e, exe, cfgPath, kernel)
	}
}

func runServiceUnit(e *env, exe, cfgPath, kernel *string) error {
	if *exe == "" {
		self, err := selfPath()
		if err != nil {
			return err
		}
		*exe = self
	}
	if *kernel == "" {
		*kernel, _ = sysservice.KernelRelease()
	}
	unit, err := sysservice.RenderUnit(*exe, *cfgPath, sysservice.Capabilities(*kernel))
	if err != nil {
		return usageError("%v", err)
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
func newManager(e *env, configPath string, forInstall bool) (*sysservice.Manager, error) {
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
	kernel, _ := sysservice.KernelRelease()
	svc, err := kardianos.New(servicerun.Control(), &kardianos.Config{
		Name:        sysservice.Name,
		DisplayName: sysservice.Name,
		Description: sysservice.Description,
		Executable:  exe,
		Arguments:   sysservice.Arguments(configPath),
		Option: kardianos.KeyValue{
			"SystemdScript": sysservice.Script(sysservice.Capabilities(kernel)),
			"Restart":       "on-failure",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("finding the service manager: %w", err)
	}
	m := &sysservice.Manager{
		Service:    svc,
		ConfigPath: configPath,
		Executable: exe,
		Out:        e.stdout,
		Cleanup:    func() error { return firewall.Cleanup(firewall.DefaultTable, 0) },
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
	for _, p := range append([]string{sysservice.UnitPath}, sysservice.PackagedUnitPaths()...) {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if c := sysservice.ConfigFromUnit(string(b)); c != "" {
			return c
		}
	}
	return sysservice.DefaultConfig
}

// pingControl asks the running hypd for a summary over its control socket.
func pingControl(ctx context.Context) (string, error) {
	st, err := control.NewClient(control.DefaultSocket).Status(ctx)
	if err != nil {
		return "", err
	}
	return summary(st), nil
}

// summary is one line of what a running hypd does.
func summary(st control.Status) string {
	ifs := make([]string, 0, len(st.Interfaces))
	for name, mode := range st.Interfaces {
		ifs = append(ifs, name+" ("+mode+")")
	}
	sort.Strings(ifs)
	return fmt.Sprintf("%d key(s), interfaces %s, %d grant(s)", len(st.Keys), strings.Join(ifs, ", "), len(st.Grants))
}

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

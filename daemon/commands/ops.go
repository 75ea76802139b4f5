package commands

// hypd's operations verbs (init, start, stop, restart, reload, service-status) as wg-quick,
// fwknopd and tailscale users expect them: they work through the service manager where one runs
// and hypd is installed under it, and through the instance lock and the control socket
// everywhere else (a container, a network namespace, a host without systemd). Status exit codes
// follow the LSB: 0 running, 3 not running, 4 unknown.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/gateway"
	"github.com/hideyourports/hyp/daemon/sysservice"
	"github.com/hideyourports/hyp/internal/atomicfile"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// LSB exit statuses of status commands.
const (
	exitNotRunning = 3
	exitUnknown    = 4
)

// DefaultLog is where hypd start writes the log of a hypd it runs in the background, when no
// service manager (and so no journal) takes it.
const DefaultLog = "/var/log/hyp/hypd.log"

const initHelp = `Writes the commented default configuration at --config (default /etc/hyp/hypd.toml, mode
0644, directory 0755) unless a file is already there, and makes the keys directory it names
(mode 0700). A config file elsewhere than /etc/hyp gets keys_dir and state_dir beside it. An
existing file is never changed. Then set interfaces and services in it, make a key with hypd
secret new, and hypd start.`

const startHelp = `Where systemd runs and hypd is installed as its service (hypd install, or the package), start
is systemctl start hypd. Elsewhere (a container, a network namespace, a host without systemd) it
runs hypd run --config FILE in the background, detached, its log appended to --log, and
returns once that hypd holds the instance lock, has put the protection in place and answers on
its control socket; or fails with the reason from its log. A hypd already running is left alone.
restart stops the running hypd first; the table stays in place meanwhile.`

// systemdRuns reports whether systemd is the running service manager (sd_booted(3)): only then
// do systemctl and the journal exist to be recommended.
func systemdRuns() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// managed returns the service Manager when systemd runs and knows hypd.service, else nil: then
// hypd is started and stopped directly.
func managed(e *env) *sysservice.Manager {
	if !systemdRuns() {
		return nil
	}
	m, err := newManager(e, "", false)
	if err != nil || !m.Installed() {
		return nil
	}
	return m
}

func initSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	path := fs.String("config", e.defaultConfig, "config `FILE` to write")
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return runInit(e, *path)
	}
}

// runInit writes the default configuration and the keys directory. It never changes an
// existing file.
func runInit(e *env, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return usageError("--config %q: %v", path, err)
	}
	created := false
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		text := config.DefaultTOML()
		if abs != config.DefaultPath {
			// Beside a config elsewhere, so that a trial setup touches nothing in /etc or /var.
			dir := filepath.Dir(abs)
			text = strings.Replace(text, `keys_dir = "`+config.DefaultKeysDir+`"`, fmt.Sprintf("keys_dir = %q", filepath.Join(dir, "keys")), 1)
			text = strings.Replace(text, `state_dir = "`+config.DefaultStateDir+`"`, fmt.Sprintf("state_dir = %q", filepath.Join(dir, "state")), 1)
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return fmt.Errorf("creating the config directory: %w", err)
		}
		if err := atomicfile.Create(abs, []byte(text), 0o644); err != nil {
			return fmt.Errorf("writing the default config %s: %w", abs, err)
		}
		created = true
		fmt.Fprintf(e.stdout, "wrote the default config %s (0644)\n", abs)
	} else if err != nil {
		return fmt.Errorf("config file %s: %w", abs, err)
	} else {
		fmt.Fprintf(e.stdout, "kept the existing config %s\n", abs)
	}
	cfg, err := loadConfigFile(abs)
	if err != nil {
		return &cmdline.ExitError{Code: 2, Err: err}
	}
	if fi, err := os.Stat(cfg.KeysDir); err == nil && fi.IsDir() {
		// hypd would load no key from it: say so now, not at the first knock.
		if err := config.CheckKeysDir(cfg.KeysDir); err != nil {
			return &cmdline.ExitError{Code: 2, Err: err}
		}
		fmt.Fprintf(e.stdout, "kept the existing keys directory %s\n", cfg.KeysDir)
	} else {
		if err := os.MkdirAll(cfg.KeysDir, 0o700); err != nil {
			return fmt.Errorf("creating the keys directory: %w", err)
		}
		// MkdirAll's mode goes through the umask; the keys directory is root's alone.
		if err := os.Chmod(cfg.KeysDir, 0o700); err != nil {
			return fmt.Errorf("creating the keys directory: %w", err)
		}
		fmt.Fprintf(e.stdout, "made the keys directory %s (0700)\n", cfg.KeysDir)
	}
	flag := ""
	if abs != e.defaultConfig {
		flag = " --config " + abs
	}
	fmt.Fprintln(e.stdout, "\nNext:")
	if created || len(cfg.Interfaces) == 0 || len(cfg.Services) == 0 {
		fmt.Fprintf(e.stdout, "  1. set interfaces and services in %s, e.g. interfaces = [\"eth0\"], services = [\"tcp/22\"]\n", abs)
	}
	fmt.Fprintf(e.stdout, "  2. make a key per agent:  hypd secret new NAME --host PUBLIC-NAME-OR-IP%s\n", flag)
	fmt.Fprintf(e.stdout, "  3. check, then start:     hypd check%s && hypd start%s\n", flag, flag)
	return nil
}

// startFlags are the flags of start and restart.
type startFlags struct {
	config, socket, log string
	wait                time.Duration
}

func startSetup(verb string) func(*flag.FlagSet, *env) cmdline.Runner {
	return func(fs *flag.FlagSet, e *env) cmdline.Runner {
		var f startFlags
		fs.StringVar(&f.config, "config", "", "config `FILE` of a hypd started without a service manager (default "+config.DefaultPath+"); giving it starts hypd so even where systemd runs")
		fs.StringVar(&f.socket, "socket", control.DefaultSocket, "control socket `PATH` of the hypd it starts and waits for")
		fs.StringVar(&f.log, "log", DefaultLog, "log `FILE` of a hypd started without a service manager (appended)")
		fs.DurationVar(&f.wait, "wait", 30*time.Second, "how long to wait for hypd to protect and answer, a `DURATION`")
		return func(ctx context.Context, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			return runStart(ctx, e, verb, f)
		}
	}
}

func runStart(ctx context.Context, e *env, verb string, f startFlags) error {
	if m := managed(e); m != nil && f.config == "" {
		var err error
		if verb == "restart" {
			err = m.Restart(ctx)
		} else {
			err = m.Start(ctx)
		}
		var ce *sysservice.ConfigError
		if errors.As(err, &ce) {
			return &cmdline.ExitError{Code: 2, Err: err}
		}
		return err
	}
	path := f.config
	if path == "" {
		path = e.defaultConfig
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return usageError("--config %q: %v", path, err)
	}
	// What hypd run would refuse is refused here, before anything runs in the background.
	// Each refusal puts what is known in place first, as hypd run's do: after a reboot there is
	// no table yet, and a typo must not leave the protected services reachable (FailClosed
	// changes nothing while another hypd holds the lock).
	cfg, err := loadConfigFile(abs)
	if err != nil {
		hideWhatIsKnown(e, nil, abs, config.DefaultStateDir, "", nil, nil, err)
		return &cmdline.ExitError{Code: 2, Err: err}
	}
	if len(cfg.Interfaces) == 0 {
		err := usageError("%s names no interface: set interfaces = [\"eth0\"] there (the uplinks knocks arrive on)", abs)
		hideWhatIsKnown(e, &cfg, abs, config.DefaultStateDir, "", nil, nil, err)
		return err
	}
	pid, running, err := gateway.LockHolder(firewall.DefaultTable)
	if err != nil {
		return err
	}
	if running && verb == "restart" {
		if pid, err = stopRunning(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "stopped hypd (pid %d); the table stays in place\n", pid)
	} else if running {
		fmt.Fprintf(e.stdout, "hypd is already running (pid %d); nothing was started (hypd restart restarts it)\n", pid)
		return nil
	}
	// No FailClosed after this point: the hypd just started may still be starting (it fails
	// closed by itself), and taking the lock here would make it refuse to run.
	pid, err = startBackground(ctx, e, abs, f)
	if err != nil {
		return err
	}
	st, err := sameNetNS(ctx, hypdClient(f.socket, pid), f.socket)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "started hypd (pid %d) without a service manager: %s; log: %s\n", pid, summary(st), f.log)
	return nil
}

// waitAnswer waits until the hypd of pid holds the instance lock and answers on socket itself
// (it opens the socket only once its table is in place), exited is closed, or wait passes. The
// answer must come from pid (SO_PEERCRED): another process on the path (another network
// namespace's hypd) fails the wait at once, since the hypd started never replaces a live socket.
func waitAnswer(ctx context.Context, pid int, socket string, wait time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	c := hypdClient(socket, pid)
	for {
		_, err := c.Status(ctx)
		var pe *control.PeerError
		if errors.As(err, &pe) {
			select {
			case <-exited:
				return errExited
			default:
			}
			return fmt.Errorf("cannot answer on %s: %w", socket, err)
		}
		if err == nil {
			holder, held, lerr := gateway.LockHolder(firewall.DefaultTable)
			switch {
			case lerr != nil:
				err = lerr
			case held && holder == pid:
				return nil
			default:
				err = fmt.Errorf("something answers on %s, but hypd (pid %d) does not hold the instance lock of this network namespace", socket, pid)
			}
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("did not answer on %s within %s: %w", socket, wait, err)
		case <-tick.C:
		}
	}
}

// errExited is waitAnswer's error when the hypd it waits for exited first.
var errExited = errors.New("exited")

func stopSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	socket := fs.String("socket", control.DefaultSocket, "control socket `PATH`, used where the kernel does not name the pid to signal")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return runStop(ctx, e, *socket)
	}
}

// runStop stops the service under its manager, else the hypd holding the instance lock. A hypd
// that is not running is not an error (LSB: stopping a stopped service succeeds).
func runStop(ctx context.Context, e *env, socket string) error {
	stoppedByManager := false
	if m := managed(e); m != nil && m.State() == "running" {
		if err := m.Stop(); err != nil {
			return err
		}
		stoppedByManager = true
	}
	pid, running, err := gateway.LockHolder(firewall.DefaultTable)
	if err != nil {
		return err
	}
	if !running && stoppedByManager {
		return nil // the Manager said so
	}
	if !running {
		fmt.Fprintln(e.stdout, "hypd is not running; protected services stay hidden while its table inet hyp stays (hypd cleanup removes it)")
		return nil
	}
	if pid > 0 {
		if pid, err = stopRunning(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "stopped hypd (pid %d); protected services stay hidden (the nftables table inet hyp stays; hypd cleanup removes it)\n", pid)
		return nil
	}
	// The lock's holder is in another pid namespace (a container): ask it over its socket, once
	// sure that what answers there is this network namespace's hypd.
	c := hypdClient(socket, 0)
	if _, err := sameNetNS(ctx, c, socket); err != nil {
		return fmt.Errorf("hypd runs, the kernel does not name its pid, and its control socket cannot take the stop: %w", err)
	}
	if err := c.Stop(ctx); err != nil {
		return fmt.Errorf("hypd runs, the kernel does not name its pid, and its control socket did not take the stop: %w", err)
	}
	if err := waitReleased(ctx, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "stopped hypd; protected services stay hidden (the nftables table inet hyp stays; hypd cleanup removes it)")
	return nil
}

// waitReleased waits until no hypd holds the instance lock.
func waitReleased(ctx context.Context, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		if _, held, err := gateway.LockHolder(firewall.DefaultTable); err == nil && !held {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hypd accepted the stop but still holds its lock after %s", wait)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func reloadSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	socket := fs.String("socket", control.DefaultSocket, "control socket `PATH`")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return runReload(ctx, e, *socket)
	}
}

// runReload asks the running hypd over its control socket for the full reload SIGHUP does, and
// says what it applied. A hypd that does not answer there (started with another --socket) gets
// SIGHUP through the instance lock.
func runReload(ctx context.Context, e *env, socket string) error {
	c := hypdClient(socket, 0)
	_, err := sameNetNS(ctx, c, socket)
	var res control.ReloadResult
	if err == nil {
		res, err = c.Reload(ctx)
	}
	if errors.Is(err, control.ErrNotRunning) {
		_, running, lerr := gateway.LockHolder(firewall.DefaultTable)
		if lerr != nil {
			return lerr
		}
		if !running {
			return &cmdline.ExitError{Code: 7, Err: errors.New("hypd is not running; nothing to reload (hypd start starts it)")}
		}
		pid, err := hupRunning()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sent SIGHUP to hypd (pid %d), which does not answer on %s; its log says whether the configuration loaded\n", pid, socket)
		return nil
	}
	if err != nil {
		return err
	}
	msg := "reloaded hypd: applied " + strings.Join(res.Applied, ", ")
	if len(res.NeedsRestart) > 0 {
		msg += "; changed but waiting for hypd restart: " + strings.Join(res.NeedsRestart, ", ")
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}

func serviceStatusSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	return func(_ context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return runServiceStatus(e)
	}
}

// runServiceStatus says whether hypd runs and who started it: the instance lock is the truth
// of "runs"; the service manager, where one runs, says whether it started it.
func runServiceStatus(e *env) error {
	pid, running, err := gateway.LockHolder(firewall.DefaultTable)
	if err != nil {
		return &cmdline.ExitError{Code: exitUnknown, Err: err}
	}
	who := "without a service manager"
	if systemdRuns() {
		if m, merr := newManager(e, "", false); merr == nil {
			fmt.Fprintln(e.stdout, m.StateLine())
			if m.State() == "running" {
				who = "by systemd"
			}
		}
	}
	if !running {
		return &cmdline.ExitError{Code: exitNotRunning, Err: errors.New("hypd is not running (hypd start starts it)")}
	}
	fmt.Fprintf(e.stdout, "hypd is running (pid %d), started %s\n", pid, who)
	return nil
}

// statusError maps the control client's error to the LSB status exit codes: 3 when no hypd runs,
// 4 when one may run but cannot be asked.
func statusError(err error, socket string) error {
	if !errors.Is(err, control.ErrNotRunning) {
		return &cmdline.ExitError{Code: exitUnknown, Err: err}
	}
	pid, running, lerr := gateway.LockHolder(firewall.DefaultTable)
	switch {
	case lerr != nil:
		return &cmdline.ExitError{Code: exitUnknown, Err: errors.Join(err, lerr)}
	case running:
		return &cmdline.ExitError{Code: exitUnknown, Err: fmt.Errorf("hypd (pid %d) runs but nothing answers on %s: it was started with another --socket (give the same one)", pid, socket)}
	}
	return &cmdline.ExitError{Code: exitNotRunning, Err: err}
}

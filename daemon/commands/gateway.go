package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/gateway"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// listFlag collects a flag that may repeat, like --interface eth0 --interface eth1.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// gatewayFlags are the flags of run and check: each overrides the config file when given.
type gatewayFlags struct {
	fs *flag.FlagSet
	// configPath is --config, or defaultConfig when that exists: read by default, as wg-quick
	// and fwknopd read theirs.
	configPath, defaultConfig                      string
	interfaces                                     listFlag
	keys, services, public, open, scheme, stateDir string
	stealth                                        bool
	skew                                           int
	knockTimeout                                   string
	logLevel                                       string
	control                                        string
	// runRecord is where hypd notes the directories of the config files it started with
	// (config.RecordRun); tests point it at their own directory.
	runRecord string
}

// register declares the flags of run and check on fs.
func (g *gatewayFlags) register(fs *flag.FlagSet) {
	g.fs = fs
	fs.StringVar(&g.configPath, "config", "", "TOML config `FILE` (default "+config.DefaultPath+" if it exists; hypd init writes it); flags override it")
	fs.Var(&g.interfaces, "interface", "`IF` to watch for knocks (repeat, or comma-separate, for several uplinks)")
	fs.StringVar(&g.keys, "keys", "", "`DIR` of key files, one per trusted agent (default "+config.DefaultKeysDir+")")
	fs.StringVar(&g.services, "services", "", "protected services: a `LIST` such as tcp/22,udp/51820")
	fs.StringVar(&g.public, "public", "", "with --stealth: a `LIST` of services that stay open to everyone, such as tcp/443")
	fs.StringVar(&g.open, "open", "", "how long a knock opens the services, a `DURATION` such as 30s or 5m (default 1m)")
	fs.StringVar(&g.scheme, "scheme", "", "default knock scheme of plain key files: `v2|hyp` (default v2)")
	fs.StringVar(&g.stateDir, "state", "", "`DIR` for the spent-knock state (default "+config.DefaultStateDir+")")
	fs.BoolVar(&g.stealth, "stealth", false, "also drop unsolicited connection attempts to every port neither public nor granted")
	fs.IntVar(&g.skew, "skew", 0, "`N` time steps accepted either side of now, 0..10 (default 1)")
	fs.StringVar(&g.knockTimeout, "knock-timeout", "", "how long a whole knock may take, a `DURATION` such as 5s (default 5s)")
	fs.StringVar(&g.logLevel, "log-level", "", "log level: `debug|info|warn|error` (default info)")
	fs.StringVar(&g.control, "socket", control.DefaultSocket, "control socket `PATH` (empty: none)")
	// The old spelling, kept for scripts: hypd status and the others call it --socket.
	fs.StringVar(&g.control, "control", control.DefaultSocket, cmdline.HiddenFlag+"old spelling of --socket")
	fs.StringVar(&g.runRecord, "run-record", config.DefaultStateDir, cmdline.HiddenFlag+"`DIR` of the record of the directories each config file named at its last start")
}

// gatewaySetup is the Setup of run and check: their flags, and the runner that takes no
// positional arguments.
func gatewaySetup(name string, run func(ctx context.Context, e *env, g *gatewayFlags) error) func(*flag.FlagSet, *env) cmdline.Runner {
	return func(fs *flag.FlagSet, e *env) cmdline.Runner {
		g := &gatewayFlags{defaultConfig: e.defaultConfig}
		g.register(fs)
		return func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError("unexpected argument %q (interfaces go with --interface)", args[0])
			}
			return run(ctx, e, g)
		}
	}
}

// load reads the config file (or the defaults) and lays the parsed flags over it. A reload
// calls it again: the same flags, the file as it is now.
func (g *gatewayFlags) load() (config.Config, error) {
	cfg := config.Default()
	if g.configPath == "" && g.defaultConfig != "" {
		if _, err := os.Stat(g.defaultConfig); err == nil {
			g.configPath = g.defaultConfig // a reload reads the same file, even if it goes
		}
	}
	if g.configPath != "" {
		c, err := loadConfigFile(g.configPath)
		if err != nil {
			return cfg, &cmdline.ExitError{Code: 2, Err: err}
		}
		cfg = c
	}
	var err error
	set := map[string]bool{}
	g.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["interface"] {
		cfg.Interfaces = g.interfaces
	}
	if set["keys"] {
		cfg.KeysDir = g.keys
	}
	if set["services"] {
		if cfg.Services, err = protected.ParseServices(g.services); err != nil {
			return cfg, usageError("--services: %v", err)
		}
	}
	if set["public"] {
		if cfg.Public, err = protected.ParseServices(g.public); err != nil {
			return cfg, usageError("--public: %v", err)
		}
	}
	if set["open"] {
		if cfg.Open, err = time.ParseDuration(g.open); err != nil {
			return cfg, usageError("--open %q: not a duration such as 30s or 5m", g.open)
		}
	}
	if set["scheme"] {
		if cfg.Scheme, err = sequence.ParseScheme(g.scheme); err != nil {
			return cfg, usageError("--scheme: %v", err)
		}
	}
	if set["state"] {
		cfg.StateDir = g.stateDir
	}
	if set["stealth"] {
		cfg.Stealth = g.stealth
	}
	if set["skew"] {
		cfg.Skew = g.skew
	}
	if set["knock-timeout"] {
		if cfg.KnockTimeout, err = time.ParseDuration(g.knockTimeout); err != nil {
			return cfg, usageError("--knock-timeout %q: not a duration such as 5s", g.knockTimeout)
		}
	}
	if set["log-level"] {
		cfg.LogLevel = g.logLevel
	}
	if err := cfg.Validate(); err != nil {
		return cfg, &cmdline.ExitError{Code: 2, Err: err}
	}
	return cfg, nil
}

// loadConfigFile is config.Load with what to do about the usual mistakes: a file that is not
// there names the command that writes it, and a duration without quotes says they need them.
func loadConfigFile(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		how := "hypd init writes the default one"
		if path != config.DefaultPath {
			how = "hypd init --config " + path + " writes the default one there"
		}
		return cfg, fmt.Errorf("config file %s does not exist: %s", path, how)
	}
	if hint := unquotedDuration(path); hint != "" {
		return cfg, fmt.Errorf("%w (%s)", err, hint)
	}
	return cfg, err
}

// unquotedDuration finds a duration written without quotes (open = 5m), which TOML cannot parse,
// and says how to write it.
func unquotedDuration(path string) string {
	// Bounded: the file may be anything now (a FIFO, a sparse terabyte), and this runs before
	// the fail-closed start.
	b, err := config.ReadBounded(path)
	if err != nil {
		return ""
	}
	re := regexp.MustCompile(`(?m)^\s*([a-z_]+)\s*=\s*([0-9][0-9.]*(?:ns|us|µs|ms|s|m|h)(?:[0-9.]+(?:ns|us|µs|ms|s|m|h))*)\s*(?:#.*)?$`)
	m := re.FindSubmatch(b)
	if m == nil {
		return ""
	}
	return fmt.Sprintf("durations are quoted strings: write %s = %q", m[1], m[2])
}

// noInterface is the error of a configuration that names no interface, saying where to name one.
func noInterface(configPath string) string {
	if configPath == "" {
		return "no interface: give --interface IF (repeatable), or hypd init and set interfaces = [\"eth0\"] in " + config.DefaultPath
	}
	return "no interface: set interfaces = [\"eth0\"] in " + configPath + ", or give --interface IF (repeatable)"
}

// hideWhatIsKnown is what hypd run does when it cannot start with what it was given — a typo
// in hypd.toml or in the unit's command line, a missing file, no interface: after a reboot
// nothing would hide the protected services while the unit retries. Before the error is said,
// it puts in place what hypd knows should be hidden: the last protection in every state
// directory it may have used (the flag's, the config file's, the default), and what the key
// files there name.
func hideWhatIsKnown(e *env, known *config.Config, configPath, recordDir, flagServices string, stateDirs, keysDirs []string, reason error) {
	if configPath == "" {
		if _, err := os.Stat(config.DefaultPath); err == nil {
			configPath = config.DefaultPath
		}
	}
	// The --services of a command line that did not load: what of it parses is hidden too (a
	// typo in another flag must not leave them open on a first boot).
	var named []protected.Service
	if known == nil {
		for _, text := range strings.Split(flagServices, ",") {
			if s, err := protected.ParseService(strings.TrimSpace(text)); err == nil {
				named = append(named, s)
			}
		}
	}
	if configPath != "" {
		if known == nil {
			named = append(named, config.ServicesOf(configPath)...)
		}
		stateDirs = append(stateDirs, config.StateDirOf(configPath))
		keysDirs = append(keysDirs, config.KeysDirOf(configPath))
		// What the file named when hypd last trusted it: the file may since have been
		// rewritten by someone else, and point away from the protection it chose.
		if run, ok := config.RecordedRunOf(recordDir, configPath); ok {
			stateDirs = append(stateDirs, run.StateDir)
			keysDirs = append(keysDirs, run.KeysDir)
		}
	}
	stateDirs = append(stateDirs, config.DefaultStateDir)
	keysDirs = append(keysDirs, config.DefaultKeysDir)
	log, err := newLogger(e.stderr, "info", nil)
	if err != nil {
		return
	}
	if err := gateway.FailClosed(log, known, named, stateDirs, keysDirs, reason); err != nil {
		fmt.Fprintf(e.stderr, "hypd: not putting the protection in place: %v\n", err)
	}
}

// runBadFlags is hypd run's answer to flags that do not parse: the same as to a bad
// configuration, with the --config, --state and --keys given before or after the bad flag.
func runBadFlags(_ context.Context, e *env, args []string, err error) {
	var configPath, services string
	recordDir := config.DefaultStateDir
	var stateDirs, keysDirs []string
	for i, a := range args {
		name, value, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if !inline {
			if i+1 >= len(args) {
				continue
			}
			value = args[i+1]
		}
		switch name {
		case "config":
			configPath = value
		case "state":
			stateDirs = append(stateDirs, value)
		case "keys":
			keysDirs = append(keysDirs, value)
		case "run-record":
			recordDir = value
		case "services":
			services = value
		}
	}
	hideWhatIsKnown(e, nil, configPath, recordDir, services, stateDirs, keysDirs, err)
}

func runGateway(ctx context.Context, e *env, g *gatewayFlags) error {
	cfg, err := g.load()
	noIface := err == nil && len(cfg.Interfaces) == 0
	if noIface {
		err = usageError("%s", noInterface(g.configPath))
	}
	if err != nil {
		var known *config.Config
		stateDirs, keysDirs := []string{g.stateDir}, []string{g.keys}
		if noIface {
			known = &cfg
			stateDirs = append(stateDirs, cfg.StateDir)
		}
		hideWhatIsKnown(e, known, g.configPath, g.runRecord, g.services, stateDirs, keysDirs, err)
		return err
	}
	level := new(slog.LevelVar)
	log, err := newLogger(e.stderr, cfg.LogLevel, level)
	if err != nil {
		return err
	}
	// Once hypd runs with it (the lock held, the table in place, the state directory working),
	// the config is the one that protects: what it names is what a refused one at the next boot
	// must not be able to lead away from. Not before: a second start refused by the lock, or one
	// whose new state_dir does not work, must not rewrite the record of the hypd that runs.
	var running func()
	if g.configPath != "" {
		running = func() {
			if err := config.RecordRun(g.runRecord, g.configPath, cfg.StateDir, cfg.KeysDir); err != nil {
				log.Warn("a refused config at the next boot may not find this run's state directory", "err", err)
			}
		}
	}
	// SIGHUP (systemctl reload hypd) reads the configuration again, with the same flags laid over it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	loadConfig := func() (config.Config, error) {
		c, err := g.load()
		if err == nil && len(c.Interfaces) == 0 {
			err = errors.New(noInterface(g.configPath))
		}
		return c, err
	}
	err = runManaged(ctx, func(ctx context.Context) error {
		return gateway.Run(ctx, cfg, gateway.Options{Logger: log, Level: level, ControlSocket: g.control, Reload: reload, LoadConfig: loadConfig, Running: running})
	})
	if err != nil && os.Geteuid() != 0 && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)) {
		return fmt.Errorf("%w; hypd run needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (sudo hypd run ..., or hypd install to run it as a service)", err)
	}
	return err
}

func runCheck(_ context.Context, e *env, g *gatewayFlags) error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	// What hypd run would refuse, check refuses too.
	if len(cfg.Interfaces) == 0 {
		return usageError("%s", noInterface(g.configPath))
	}
	if fi, err := os.Stat(cfg.KeysDir); err != nil || !fi.IsDir() {
		return &cmdline.ExitError{Code: 1, Err: fmt.Errorf("keys directory %s does not exist: hypd init makes it (or hypd secret new NAME, with the first key)", cfg.KeysDir)}
	}
	for _, name := range cfg.Interfaces {
		if _, err := net.InterfaceByName(name); err != nil {
			fmt.Fprintf(e.stdout, "note: interface %s does not exist now; hypd run waits for it and attaches when it appears\n", name)
		}
	}
	keys, problems := config.LoadKeys(cfg.KeysDir, cfg)
	for _, p := range problems {
		fmt.Fprintln(e.stderr, "hypd: key:", p)
	}
	for _, k := range keys {
		note := ""
		if k.Params.Scheme == sequence.Hyp {
			note = "  (warning: 32-bit reference hyp scheme)"
		}
		scheme := string(k.Params.Scheme)
		if k.Params.Scheme == sequence.V3 {
			scheme += " realm " + strconv.Quote(k.Params.Realm)
		}
		fmt.Fprintf(e.stdout, "key %-20s %s %s open %s%s\n", k.Name, scheme, protected.JoinServices(k.Services), k.Open, note)
	}
	switch {
	case len(problems) > 0:
		return &cmdline.ExitError{Code: 1, Err: fmt.Errorf("%d key file(s) in %s cannot be used", len(problems), cfg.KeysDir)}
	case len(keys) == 0:
		fmt.Fprintf(e.stdout, "note: no keys yet in %s; every protected service stays hidden until one loads (hypd secret new NAME)\n", cfg.KeysDir)
	}
	if cfg.Realm != "" {
		fmt.Fprintf(e.stdout, "realm %q: only v3 keys load here\n", cfg.Realm)
	}
	fmt.Fprintf(e.stdout, "config ok: %d key(s), interfaces %v\n", len(keys), cfg.Interfaces)
	return nil
}

func runConfigDefault(_ context.Context, e *env) error {
	_, err := io.WriteString(e.stdout, config.DefaultTOML())
	return err
}

func cleanupSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	stop := fs.Bool("stop", false, "stop the running hypd first (it would otherwise re-create the table at once)")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usageError("unexpected argument %q", args[0])
		}
		return runCleanup(e, *stop)
	}
}

func runCleanup(e *env, stop bool) error {
	pid, running, err := gateway.LockHolder(firewall.DefaultTable)
	if err != nil {
		return err
	}
	if running {
		if !stop {
			return &cmdline.ExitError{Code: 1, Err: fmt.Errorf("hypd (pid %d) is running and would re-create its table at once; nothing was deleted. "+
				"Stop it first (hypd stop), or run hypd cleanup --stop", pid)}
		}
		if pid, err = stopRunning(); err != nil {
			return err
		}
		if systemdRuns() {
			fmt.Fprintf(e.stdout, "stopped hypd (pid %d); if it runs as a service, `systemctl disable hypd` keeps it from starting again at boot\n", pid)
		} else {
			fmt.Fprintf(e.stdout, "stopped hypd (pid %d)\n", pid)
		}
	}
	exists, err := tableExists(firewall.DefaultTable)
	if err != nil {
		return err
	}
	if !exists {
		fmt.Fprintf(e.stdout, "no nftables table inet %s in this network namespace: nothing to delete\n", firewall.DefaultTable)
		return nil
	}
	if err := firewall.Cleanup(firewall.DefaultTable, 0); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted nftables table inet %s: protected services are reachable again unless another firewall hides them\n", firewall.DefaultTable)
	return nil
}

//go:build linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/server"
	"github.com/hideyourports/hyp/daemon/spent"
)

// watchInterval is how often the table is checked for drift when no nftables notification
// came: a safety net for a lost notification, not the way repairs are normally found.
const watchInterval = 5 * time.Second

// gateway is one running hypd: the live configuration and what it protects.
type gateway struct {
	log  *slog.Logger
	opts Options

	// mu guards cfg, kept, origins, keyProblems, configProblem and keys.
	mu            sync.Mutex
	cfg           config.Config
	kept          []firewall.Service // protected before and not given up on purpose
	origins       []Origin           // what the table protects now, and why
	keyProblems   []string
	configProblem string
	keys          []config.Key

	fw  *firewall.Firewall
	det *detector.Detector
	srv *server.Server

	repairs atomic.Uint64 // times the table was changed from outside and rebuilt
}

// Run hides the protected services and serves knocks until ctx ends.
//
// Everything that can fail is checked before the first change to the kernel's ruleset — the
// instance lock (a second hypd touches nothing), the state directory, the keys, the control
// socket's path, loading and attaching the knock detector — so a run that exits with an error
// leaves the ruleset as it found it. From the moment the table is in place hypd does not exit
// on an error: a reload that fails keeps the running configuration, a key file that fails keeps
// its services hidden. On return the firewall table stays in place (fail closed): protected
// services stay hidden and grants expire on time.
func Run(ctx context.Context, cfg config.Config, o Options) (err error) {
	pre, err := preflight(cfg, o)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, pre.Close()) }()

	log := o.Logger
	g := &gateway{log: log, opts: o, cfg: cfg, kept: pre.last.Protected}
	keys := g.loadKeys()
	g.mu.Lock()
	g.origins = protection(cfg, keys, g.kept)
	protected := servicesOf(g.origins)
	g.mu.Unlock()

	slots, err := server.Slots(keys, cfg.Skew)
	if err != nil {
		return fmt.Errorf("sizing the knock detector (nothing was changed): %w", err)
	}
	// The detector is loaded and attached before the table changes: it is the part most likely
	// to fail (kernel features, permissions), and without the table it opens nothing.
	det, err := openDetector(cfg, protected, slots, log)
	if err != nil {
		return fmt.Errorf("starting the knock detector (nothing was changed in nftables): %w", err)
	}
	defer func() { err = errors.Join(err, det.Close()) }()
	g.det = det

	// The first change to the ruleset. From here on, hypd stays up whatever fails.
	fw, err := firewall.Open(firewall.Config{
		Table:     firewall.DefaultTable,
		Protected: protected,
		Stealth:   cfg.Stealth,
		Public:    cfg.Public,
	})
	if err != nil {
		return fmt.Errorf("opening firewall table inet %s: %w", firewall.DefaultTable, err)
	}
	defer func() { err = errors.Join(err, fw.Close()) }()
	g.fw = fw
	g.saveProtection()

	srv, err := server.New(server.Options{
		Skew:     cfg.Skew,
		Detector: det,
		Firewall: fw,
		Spent:    pre.spent,
		Logger:   log,
		// MaxSequences lets Refresh load the most useful sequences when a reload adds keys.
		MaxSequences: slots,
		LoadKeys:     func() ([]config.Key, []error) { return g.loadKeys(), nil },
		OnKeys:       g.applyKeys,
	})
	if err != nil {
		return err
	}
	g.srv = srv
	if err := srv.SetKeys(keys); err != nil {
		log.Error("loading the keys' sequences into the knock detector; retrying at the next time step", "err", err)
	}
	if !det.ConntrackReplies() {
		// The kfunc resolves when the program loads; on a kernel with nf_conntrack as a module
		// that nothing had loaded yet (hypd's own table loads it, but after the detector), small
		// UDP replies to the gateway's own flows are judged as knocks until the next start.
		log.Warn("the knock detector cannot look up conntrack (nf_conntrack was not loaded when it started): small UDP replies to the gateway's own outgoing flows are dropped; restart hypd now that its table has loaded nf_conntrack, or load it at boot (modules-load.d)")
	}
	// Said by serve once the control socket answers: scripts and tests wait for this line.
	running := func() {
		log.Info("hypd running", "interfaces", cfg.Interfaces, "modes", det.AttachModes(), "protected", protected,
			"keys", len(keys), "stealth", cfg.Stealth, "open", cfg.Open.String(), "conntrack_replies", det.ConntrackReplies())
	}
	err = g.serve(ctx, pre.metrics, running)
	log.Info("hypd stopping; protected services stay hidden, grants expire on time")
	return err
}

// checked is what preflight opened: held for the whole run, released in reverse order.
type checked struct {
	lock    *Lock
	last    Protection
	spent   *spent.Store
	metrics net.Listener // nil when metrics are off
}

// preflight does every check that needs no change to the ruleset — the instance lock (a second
// hypd touches nothing), the state directory, the last protection, the spent log, the control
// socket's path, the metrics port — so that a failure here leaves the kernel as it was.
func preflight(cfg config.Config, o Options) (_ *checked, err error) {
	c := &checked{}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	if c.lock, err = AcquireLock(firewall.DefaultTable); err != nil {
		return nil, err
	}
	if err := checkStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	if c.last, _, err = loadProtection(cfg.StateDir); err != nil {
		return nil, err
	}
	if c.spent, err = spent.Open(filepath.Join(cfg.StateDir, "spent.json")); err != nil {
		return nil, err
	}
	if o.ControlSocket != "" {
		if err := control.CheckPath(o.ControlSocket); err != nil {
			return nil, err
		}
	}
	if cfg.Metrics != "" {
		// Bound now, served once everything is wired: a port in use is found before any change.
		if c.metrics, err = net.Listen("tcp", cfg.Metrics); err != nil {
			return nil, fmt.Errorf("metrics %s: %w (nothing was changed)", cfg.Metrics, err)
		}
	}
	return c, nil
}

// Close releases in reverse order. The spent log closes after everything that spends: a clean
// stop is recorded, so the next start need not distrust recent windows.
func (c *checked) Close() error {
	var err error
	if c.metrics != nil {
		err = errors.Join(err, ignoreClosed(c.metrics.Close()))
	}
	if c.spent != nil {
		err = errors.Join(err, c.spent.Close())
	}
	if c.lock != nil {
		err = errors.Join(err, c.lock.Close())
	}
	return err
}

// ignoreClosed drops the error of closing a listener the metrics server already closed.
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func openDetector(cfg config.Config, protected []firewall.Service, slots int, log *slog.Logger) (*detector.Detector, error) {
	return detector.Open(detector.Config{
		Interfaces:   cfg.Interfaces,
		UDPServices:  udpPorts(protected, cfg.Public),
		KnockTimeout: cfg.KnockTimeout,
		MaxSequences: slots,
		// A deleted, re-created or failing uplink is worth a line: knocks on it depend on it.
		OnInterface: func(s detector.InterfaceState) {
			if s.Attached() {
				log.Info(s.Message(), "interface", s.Name, "mode", s.Mode)
			} else {
				log.Warn(s.Message(), "interface", s.Name, "mode", s.Mode)
			}
		},
	})
}

// serve runs the server until ctx ends, with what feeds it: the keys directory watch, reload
// requests, the table watch, the metrics and control endpoints; running is called once they
// are all up. Every goroutine it starts ends
// with it and is joined before it returns, so none outlives the kernel handles Run closes next.
func (g *gateway) serve(ctx context.Context, metricsLn net.Listener, running func()) (err error) {
	log := g.log
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopWatch()

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if w, werr := config.Watch(g.cfg.KeysDir, 200*time.Millisecond); werr != nil {
		log.Warn("not watching the keys directory; send SIGHUP after changing keys", "keys", g.cfg.KeysDir, "err", werr)
	} else {
		defer func() { err = errors.Join(err, w.Close()) }()
		wg.Go(func() {
			for {
				select {
				case <-watchCtx.Done():
					return
				case <-w.Changed():
					notify()
				}
			}
		})
	}
	if g.opts.Reload != nil {
		wg.Go(func() {
			for {
				select {
				case <-watchCtx.Done():
					return
				case <-g.opts.Reload:
					g.reloadConfig()
					notify()
				}
			}
		})
	}

	// Fail closed also against `nft flush ruleset` (Debian's nftables.service runs it at start),
	// a flushed chain or set, a deleted rule: while hypd runs, its table is rebuilt within
	// milliseconds of any change from outside.
	wg.Go(func() {
		_ = g.fw.Watch(watchCtx, watchInterval, func(drift []string, err error) {
			if err != nil {
				log.Error("checking the nftables table", "table", "inet "+firewall.DefaultTable, "err", err)
				return
			}
			g.repairs.Add(1)
			log.Warn("nftables table changed from outside hypd; re-created it", "table", "inet "+firewall.DefaultTable, "drift", drift)
		})
	})

	b := &backend{g: g, started: time.Now()}
	if metricsLn != nil {
		ms := &http.Server{Handler: metricsHandler(b), ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() { _ = ms.Serve(metricsLn) })
		defer ms.Close()
		log.Info("serving Prometheus metrics", "address", metricsLn.Addr().String())
	}
	if g.opts.ControlSocket != "" {
		cs, lerr := control.Listen(g.opts.ControlSocket, b)
		if lerr != nil {
			log.Error("no control socket: hypd status will not answer; the gateway runs on", "err", lerr)
		} else {
			defer func() { err = errors.Join(err, cs.Close()) }()
		}
	}
	running()
	return g.srv.Run(ctx, changed)
}

// loadKeys reads the keys directory with the current configuration as defaults, remembers the
// problems for status and logs each.
func (g *gateway) loadKeys() []config.Key {
	g.mu.Lock()
	cfg := g.cfg
	g.mu.Unlock()
	keys, problems := config.LoadKeys(cfg.KeysDir, cfg)
	g.mu.Lock()
	before := g.keyProblems
	g.mu.Unlock()
	texts := make([]string, len(problems))
	for i, p := range problems {
		texts[i] = p.Error()
		// Once per problem, not at every reload: the log is an audit trail, and status lists
		// what is still wrong.
		if !slices.Contains(before, texts[i]) {
			g.log.Error("key not loaded; the services it protected stay hidden", "err", p)
		}
	}
	if len(keys) == 0 {
		g.log.Warn("no keys loaded: every protected service stays hidden until a key file loads", "keys", cfg.KeysDir)
	}
	g.mu.Lock()
	g.keyProblems = texts
	g.mu.Unlock()
	return keys
}

// applyKeys protects what the new keys name, before their sequences reach the kernel: a key must
// never be able to knock before its services are hidden. Nothing that was protected is dropped.
func (g *gateway) applyKeys(keys []config.Key) error {
	g.mu.Lock()
	g.keys = keys
	g.mu.Unlock()
	return g.reprotect()
}

// reprotect recomputes the protection from the configuration, the keys and what is kept, and
// applies it to the table and the detector.
func (g *gateway) reprotect() error {
	g.mu.Lock()
	cfg := g.cfg
	origins := protection(cfg, g.keys, g.kept)
	g.origins = origins
	// What is protected now is kept from now on, whatever happens to the files naming it.
	g.kept = servicesOf(origins)
	protected := g.kept
	g.mu.Unlock()
	err := errors.Join(g.fw.Reconfigure(protected, cfg.Public, cfg.Stealth),
		g.det.SetUDPServices(udpPorts(protected, cfg.Public)))
	g.saveProtection()
	return err
}

// saveProtection persists what the table protects now. Failing to is logged, not fatal: the
// table is in place, and the file only matters at the next start.
func (g *gateway) saveProtection() {
	g.mu.Lock()
	p := Protection{Protected: servicesOf(g.origins), Public: g.cfg.Public, Stealth: g.cfg.Stealth}
	dir := g.cfg.StateDir
	g.mu.Unlock()
	if err := saveProtection(dir, p); err != nil {
		g.log.Error("saving what is protected (the table is unaffected; a later start with a broken config would fall back to an older protection)", "err", err)
	}
}

// unprotect gives up a kept service on the admin's explicit request.
func (g *gateway) unprotect(text string) error {
	svc, err := firewall.ParseService(text)
	if err != nil {
		return err
	}
	g.mu.Lock()
	var named []string
	found := false
	for _, o := range g.origins {
		if o.Service == svc {
			found = true
			named = o.From
		}
	}
	if !found {
		g.mu.Unlock()
		return fmt.Errorf("%s is not protected", svc)
	}
	if len(named) > 0 {
		g.mu.Unlock()
		return fmt.Errorf("%s is named by %s; remove it there first (then reload: systemctl reload hypd)", svc, joinNames(named))
	}
	g.kept = slices.DeleteFunc(slices.Clone(g.kept), func(s firewall.Service) bool { return s == svc })
	g.mu.Unlock()
	if err := g.reprotect(); err != nil {
		return err
	}
	g.log.Warn("service no longer protected, on request", "service", svc.String())
	return nil
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// reloadConfig reads the configuration again (SIGHUP, systemctl reload). A configuration that
// does not load is refused whole: hypd keeps running with the last good one and says why.
// What can change live is applied; what cannot is named.
func (g *gateway) reloadConfig() {
	if g.opts.LoadConfig == nil {
		g.log.Info("SIGHUP: reloading keys")
		return
	}
	next, err := g.opts.LoadConfig()
	if err != nil {
		g.mu.Lock()
		g.configProblem = err.Error()
		g.mu.Unlock()
		g.log.Error("configuration not reloaded; hypd keeps running with the last good one", "err", err)
		return
	}
	g.mu.Lock()
	prev := g.cfg
	g.configProblem = ""
	// Settings that name the kernel objects or files hypd holds open need a restart; keep the
	// running values so that what status shows is what runs.
	var restart []string
	for _, f := range []struct {
		name string
		same bool
		keep func()
	}{
		{"interfaces", slices.Equal(prev.Interfaces, next.Interfaces), func() { next.Interfaces = prev.Interfaces }},
		{"keys_dir", prev.KeysDir == next.KeysDir, func() { next.KeysDir = prev.KeysDir }},
		{"state_dir", prev.StateDir == next.StateDir, func() { next.StateDir = prev.StateDir }},
		{"skew", prev.Skew == next.Skew, func() { next.Skew = prev.Skew }},
		{"metrics", prev.Metrics == next.Metrics, func() { next.Metrics = prev.Metrics }},
	} {
		if !f.same {
			restart = append(restart, f.name)
			f.keep()
		}
	}
	g.cfg = next
	g.mu.Unlock()

	var applied []string
	if !slices.Equal(prev.Services, next.Services) || !slices.Equal(prev.Public, next.Public) || prev.Stealth != next.Stealth {
		// Applied here, before the line below says so; the key reload that follows protects
		// again with the keys' new defaults.
		if err := g.reprotect(); err != nil {
			g.log.Error("applying services, public, stealth", "err", err)
		} else {
			applied = append(applied, "services, public, stealth")
		}
	}
	if prev.Open != next.Open || prev.Uses != next.Uses || prev.Scheme != next.Scheme {
		applied = append(applied, "key defaults (open, uses, scheme)")
	}
	if prev.KnockTimeout != next.KnockTimeout {
		if err := g.det.SetKnockTimeout(next.KnockTimeout); err != nil {
			g.log.Error("applying knock_timeout", "err", err)
		} else {
			applied = append(applied, "knock_timeout")
		}
	}
	if prev.LogLevel != next.LogLevel {
		if g.opts.Level != nil {
			var l slog.Level
			if err := l.UnmarshalText([]byte(next.LogLevel)); err == nil {
				g.opts.Level.Set(l)
				applied = append(applied, "log_level")
			}
		} else {
			restart = append(restart, "log_level")
		}
	}
	// Key defaults take effect through the key reload the caller triggers next (it protects
	// what the keys name before any of their sequences is loaded).
	g.log.Info("configuration reloaded", "applied", applied, "needs_restart", restart)
	if len(restart) > 0 {
		g.log.Warn("some changed settings take effect only after a restart (systemctl restart hypd)", "settings", restart)
	}
}

// Restore puts the last good protection back in place when hypd cannot start with the
// configuration it was given (a typo at boot). nftables tables do not survive a reboot: without
// this, one bad edit of hypd.toml would expose every protected service after the next reboot.
// Nothing is done while another hypd runs. It returns what it did, for the log.
func Restore(stateDir string) (string, error) {
	lock, err := AcquireLock(firewall.DefaultTable)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	last, ok, err := loadProtection(stateDir)
	if err != nil {
		return "", err
	}
	if !ok {
		return "no earlier protection recorded in " + stateDir + "; nothing to restore", nil
	}
	// Also when the table exists: someone may have flushed a chain or a set since the last run
	// stopped. Open rebuilds chains and sets to the last protection in one batch and keeps grants.
	fw, err := firewall.Open(firewall.Config{Table: firewall.DefaultTable, Protected: last.Protected, Public: last.Public, Stealth: last.Stealth})
	if err != nil {
		return "", fmt.Errorf("restoring the last protection: %w", err)
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	return fmt.Sprintf("restored the last protection: table inet %s hides %v (stealth %v)", firewall.DefaultTable, last.Protected, last.Stealth), nil
}

// backend answers the control socket from the live objects.
type backend struct {
	g       *gateway
	started time.Time
}

func (b *backend) Status() (control.Status, error) {
	g := b.g
	g.mu.Lock()
	st := control.Status{
		Started:       b.started.UTC(),
		Stealth:       g.cfg.Stealth,
		KeyProblems:   slices.Clone(g.keyProblems),
		ConfigProblem: g.configProblem,
		TableRepairs:  g.repairs.Load(),
	}
	for _, o := range g.origins {
		st.Protected = append(st.Protected, control.Protected{Service: o.Service.String(), From: append([]string{}, o.From...)})
	}
	g.mu.Unlock()
	st.Keys = g.srv.Keys()
	st.Server = g.srv.Stats()
	st.Interfaces = g.det.AttachModes()
	c, err := g.det.Counters()
	if err != nil {
		return st, fmt.Errorf("reading detector counters: %w", err)
	}
	// Progress goes to root only: the control socket drops it for anyone else, /metrics never shows it.
	st.Detector = control.Counters{Seen: c.Seen, Completions: c.Completions, RingbufDrops: c.RingbufDrops, StaleRecords: c.Stale,
		ReplaysUnreported: c.ReplaysUnreported, Progress: &control.Progress{Hits: c.Hits, Resets: c.Resets, Overflows: c.Overflows}}
	gs, err := g.fw.Grants()
	if err != nil {
		return st, fmt.Errorf("reading grants: %w", err)
	}
	for _, gr := range gs {
		st.Grants = append(st.Grants, control.Grant{Source: gr.Addr.String(), Service: gr.Service.String(), SecondsLeft: int64(gr.Expires / time.Second), Key: gr.Key})
	}
	return st, nil
}

// metricsHandler serves /metrics from the backend's status.
func metricsHandler(b *backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Status()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = control.WriteMetrics(w, st)
	})
	return mux
}

func (b *backend) Revoke(addr netip.Addr) (int, error) {
	n, err := b.g.fw.Revoke(addr)
	if err == nil {
		b.g.log.Info("grants revoked on request", "source", addr, "revoked", n)
	}
	return n, err
}

func (b *backend) Unprotect(svc string) error { return b.g.unprotect(svc) }

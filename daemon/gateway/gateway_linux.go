//go:build linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
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

// gateway is one running hypd: the kernel handles and the one writer of what they hold.
type gateway struct {
	log  *slog.Logger
	opts Options
	w    *writer

	fw  *firewall.Firewall
	det *detector.Detector
	srv *server.Server

	repairs atomic.Uint64 // times the table was changed from outside and rebuilt
}

// Run hides the protected services and serves knocks until ctx ends.
//
// A second hypd (the instance lock is held) changes nothing. Otherwise hypd fails closed from
// power-on: whatever makes a start fail once it holds the lock — a state directory it cannot
// write, a spent log it cannot read, the knock detector failing to load after a kernel upgrade,
// too many keys — the protection it knows of (the last one it applied, and what the
// configuration and key files name) is put in the kernel before it returns, with grants dropped
// (failClosed). Files it cannot parse are moved aside and kept for the admin, never a reason to
// run unprotected; the metrics or control endpoint failing to open is logged and the gateway runs
// without it. From the moment the table is in place hypd does not exit on an error: a reload that
// fails keeps the running configuration, a key file that fails keeps its services hidden. On
// return the table stays in place: protected services stay hidden and grants expire on time.
func Run(ctx context.Context, cfg config.Config, o Options) (err error) {
	lock, err := AcquireLock(firewall.DefaultTable)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, lock.Close()) }()
	log := o.Logger

	var last *Protection
	tableUp := false
	defer func() {
		if err != nil && !tableUp {
			var lasts []Protection
			if last != nil {
				lasts = append(lasts, *last)
			}
			failClosed(log, &cfg, lasts, nil, nil, err)
		}
	}()
	last = readLastProtection(log, cfg.StateDir)
	if err := checkStateDir(cfg.StateDir); err != nil {
		return err
	}
	spentLog, err := spent.OpenOptions(filepath.Join(cfg.StateDir, "spent.json"), spent.Options{SetAsideDamaged: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, spentLog.Close()) }()
	if aside := spentLog.SetAside(); aside != "" {
		log.Error("the spent-knock log was damaged; it was moved aside and a new one started. Knocks of the current time windows are refused until the next ones (a knock spent before could otherwise be replayed)",
			"moved_to", aside)
	}
	var metricsLn net.Listener
	if cfg.Metrics != "" {
		if metricsLn, err = net.Listen("tcp", cfg.Metrics); err != nil {
			log.Error("no metrics endpoint; the gateway runs without it", "address", cfg.Metrics, "err", err)
			metricsLn, err = nil, nil
		} else {
			defer func() { err = errors.Join(err, ignoreClosed(metricsLn.Close())) }()
		}
	}

	w := newWriter(&writer{log: log, loadConfig: o.LoadConfig, level: o.Level, cfg: cfg})
	if last != nil {
		w.kept = last.Protected
	}
	keys, problems := w.loadKeys(cfg)
	hidden := servicesOf(protection(cfg, keys, w.kept))
	slots, err := server.Slots(keys, cfg.Skew)
	if err != nil {
		return fmt.Errorf("sizing the knock detector: %w", err)
	}
	// The detector is loaded and attached before the table: it is the part most likely to fail
	// (kernel features, permissions), and it holds no sequence until the first pass below has
	// protected what the keys name.
	det, err := openDetector(cfg, hidden, slots, server.Tags(keys, cfg.Skew, slots), log)
	if err != nil {
		return fmt.Errorf("starting the knock detector: %w", err)
	}
	defer func() { err = errors.Join(err, det.Close()) }()

	fw, err := firewall.Open(firewall.Config{
		Table:     firewall.DefaultTable,
		Protected: hidden,
		Stealth:   cfg.Stealth,
		Public:    cfg.Public,
	})
	if err != nil {
		return fmt.Errorf("opening firewall table inet %s: %w", firewall.DefaultTable, err)
	}
	tableUp = true
	defer func() { err = errors.Join(err, fw.Close()) }()

	srv, err := server.New(server.Options{
		Skew:     cfg.Skew,
		Detector: det,
		Firewall: fw,
		Spent:    spentLog,
		Logger:   log,
		// MaxSequences lets Refresh load the most useful sequences when a reload adds keys.
		MaxSequences: slots,
	})
	if err != nil {
		return err
	}
	w.fw, w.det, w.srv = fw, det, srv
	g := &gateway{log: log, opts: o, w: w, fw: fw, det: det, srv: srv}
	if err := w.applyKeys(keys, problems); err != nil {
		log.Error("the first pass over the keys failed; retrying", "err", err)
		w.KeysChanged()
	}
	// The first load of many keys leaves garbage several times the size of what it keeps; hand
	// it back now rather than let the process sit at its start-up peak.
	keys, problems = nil, nil
	debug.FreeOSMemory()
	if !det.ConntrackReplies() {
		// The kfunc resolves when the program loads; on a kernel with nf_conntrack as a module
		// that nothing had loaded yet (hypd's own table loads it, but after the detector), small
		// UDP replies to the gateway's own flows are judged as knocks until the next start.
		log.Warn("the knock detector cannot look up conntrack (nf_conntrack was not loaded when it started): small UDP replies to the gateway's own outgoing flows are dropped; restart hypd now that its table has loaded nf_conntrack, or load it at boot (modules-load.d)")
	}
	// Said by serve once the control socket answers: scripts and tests wait for this line.
	running := func() {
		snap := w.snapshot()
		log.Info("hypd running", "interfaces", cfg.Interfaces, "modes", det.AttachModes(), "protected", servicesOf(snap.origins),
			"keys", len(srv.Keys()), "stealth", cfg.Stealth, "open", cfg.Open.String(), "conntrack_replies", det.ConntrackReplies())
		if o.Running != nil {
			o.Running()
		}
	}
	err = g.serve(ctx, metricsLn, running)
	log.Info("hypd stopping; protected services stay hidden, grants expire on time")
	return err
}

// readLastProtection reads the last protection hypd applied. A file that does not parse is moved
// aside (kept for the admin) and reported: it is never a reason not to start, since the
// configuration and key files still say what to protect. The directory is held open while it is
// read, judged and moved aside in (openStateDir): a refused hypd.toml may name a directory of
// someone else's, whose file only ever adds hiding and is never moved.
func readLastProtection(log *slog.Logger, stateDir string) *Protection {
	d, err := openStateDir(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		log.Error("the last protection cannot be read; protecting what the configuration and key files name", "err", err)
		return nil
	}
	defer d.Close()
	p, ok, err := d.load()
	if err == nil {
		if !ok {
			return nil
		}
		// What it hides always counts; what it makes public only if no one but root could have
		// written it: a refused hypd.toml may name a directory of someone else's (the review).
		if why := d.trustProblem(); why != "" && len(p.Public) > 0 {
			log.Warn("the last protection's public services are ignored: someone other than root could have written it", "state_dir", stateDir, "why", why)
			p.Public = nil
		}
		return &p
	}
	var damaged *damagedError
	if !errors.As(err, &damaged) {
		log.Error("the last protection cannot be read; protecting what the configuration and key files name", "err", err)
		return nil
	}
	aside, merr := d.moveAside(time.Now())
	if merr != nil {
		log.Error("the last protection is damaged and was not moved aside; protecting what the configuration and key files name", "err", err, "move_err", merr)
		return nil
	}
	log.Error("the last protection was damaged; it was moved aside, and hypd protects what the configuration and key files name", "err", err, "moved_to", aside)
	return nil
}

// FailClosed is what hypd does when it cannot start with what it was given (a typo in hypd.toml
// or on the command line at boot, no interface named): it puts the protection it knows of in the
// kernel, so that the protected services stay hidden while the service manager retries. cfg is
// nil when the configuration did not load; then the last protections in every one of stateDirs
// that has one, the keys in every one of keysDirs, and named (the services the file that did
// not load lists, config.ServicesOf) say what to hide. While another hypd runs it changes
// nothing and says so.
func FailClosed(log *slog.Logger, cfg *config.Config, named []protected.Service, stateDirs, keysDirs []string, reason error) error {
	lock, err := AcquireLock(firewall.DefaultTable)
	if err != nil {
		return err
	}
	defer lock.Close()
	var lasts []Protection
	for _, dir := range unique(stateDirs) {
		if p := readLastProtection(log, dir); p != nil {
			lasts = append(lasts, *p)
		}
	}
	failClosed(log, cfg, lasts, named, unique(keysDirs), reason)
	return nil
}

func unique(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// failClosed puts in the kernel everything hypd knows should be hidden: the last protections it
// applied and what the configuration (when it loaded) and the key files name; grants are
// dropped, since no hypd stands behind them now. nftables tables do not survive a reboot:
// without this, any failing start after a reboot would leave every protected service exposed
// while the service manager retries. The caller holds the instance lock. Without cfg the keys of
// keysDirs count, with it those of cfg.KeysDir. named (without cfg) is hidden too and never
// public, whatever a last protection says.
func failClosed(log *slog.Logger, cfg *config.Config, lasts []Protection, named []protected.Service, keysDirs []string, reason error) {
	c := config.Default()
	if cfg != nil {
		c = *cfg
		keysDirs = []string{c.KeysDir}
	}
	var kept []protected.Service
	for _, last := range lasts {
		kept = append(kept, last.Protected...)
		if cfg == nil {
			c.Stealth = c.Stealth || last.Stealth
		}
	}
	if cfg == nil {
		kept = append(kept, named...)
		c.Public = slices.DeleteFunc(publicOfAll(lasts), func(s protected.Service) bool { return slices.Contains(named, s) })
	}
	var keys []config.Key
	for _, dir := range keysDirs {
		k, _ := config.LoadKeys(dir, c)
		keys = append(keys, k...)
	}
	hidden := servicesOf(protection(c, keys, kept))
	if len(hidden) == 0 && !c.Stealth {
		log.Error("HYPD DID NOT START AND KNOWS OF NOTHING TO PROTECT: no last protection in the state directory, and neither the configuration nor a key file names a service; nothing is hidden",
			"reason", reason, "state_dir", c.StateDir, "keys", strings.Join(keysDirs, ","))
		return
	}
	fw, err := firewall.Open(firewall.Config{Table: firewall.DefaultTable, Protected: hidden, Public: c.Public, Stealth: c.Stealth})
	if err != nil {
		log.Error("HYPD DID NOT START AND COULD NOT PUT THE PROTECTION IN PLACE: the protected services may be reachable", "reason", reason, "err", err)
		return
	}
	dropped := 0
	grants, gerr := fw.Grants()
	seen := map[netip.Addr]bool{}
	for _, gr := range grants {
		if seen[gr.Addr] {
			continue
		}
		seen[gr.Addr] = true
		n, rerr := fw.Revoke(gr.Addr)
		gerr = errors.Join(gerr, rerr)
		dropped += n
	}
	gerr = errors.Join(gerr, fw.Close())
	if gerr != nil {
		log.Error("dropping the grants of the last run", "err", gerr)
	}
	log.Error("hypd did not start; the protection is in place without it (the service manager retries)",
		"reason", reason, "table", "inet "+firewall.DefaultTable, "protected", protected.JoinServices(hidden),
		"public", protected.JoinServices(c.Public), "stealth", c.Stealth, "grants_dropped", dropped)
}

// ignoreClosed drops the error of closing a listener the metrics server already closed.
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func openDetector(cfg config.Config, hidden []protected.Service, slots, tags int, log *slog.Logger) (*detector.Detector, error) {
	return detector.Open(detector.Config{
		Interfaces:   cfg.Interfaces,
		UDPServices:  udpPorts(hidden, cfg.Public),
		KnockTimeout: cfg.KnockTimeout,
		MaxSequences: slots,
		MaxTags:      tags,
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

// serve runs until ctx ends: the one writer, the grant path, and what feeds them — the keys
// directory watch, reload requests, the table watch, the metrics and control endpoints; running
// is called once they are all up. Every goroutine it starts ends with it and is joined before
// it returns, so none outlives the kernel handles Run closes next.
func (g *gateway) serve(ctx context.Context, metricsLn net.Listener, running func()) (err error) {
	log := g.log
	ctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()

	cfg := g.w.snapshot().cfg
	if w, werr := config.Watch(cfg.KeysDir, 200*time.Millisecond); werr != nil {
		log.Warn("not watching the keys directory; send SIGHUP after changing keys", "keys", cfg.KeysDir, "err", werr)
	} else {
		defer func() { err = errors.Join(err, w.Close()) }()
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-w.Changed():
					g.w.KeysChanged()
				}
			}
		})
	}

	// Fail closed also against `nft flush ruleset` (Debian's nftables.service runs it at start),
	// a flushed chain or set, a deleted rule: while hypd runs, its table is rebuilt within
	// milliseconds of any change from outside, to what the writer last applied.
	wg.Go(func() {
		_ = g.fw.Watch(ctx, watchInterval, func(drift []string, err error) {
			if err != nil {
				log.Error("checking the nftables table", "table", "inet "+firewall.DefaultTable, "err", err)
				return
			}
			g.repairs.Add(1)
			log.Warn("nftables table changed from outside hypd; re-created it", "table", "inet "+firewall.DefaultTable, "drift", drift)
		})
	})
	wg.Go(func() { g.w.run(ctx, g.opts.Reload) })
	served := make(chan error, 1)
	wg.Go(func() { served <- g.srv.Serve(ctx) })

	b := &backend{g: g, started: time.Now(), stop: stop}
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
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		return err
	}
}

// backend answers the control socket from the live objects.
type backend struct {
	g       *gateway
	started time.Time
	stop    context.CancelFunc // ends serve, as SIGTERM does: hypd stop over the socket
}

// Stop ends this hypd as SIGTERM would: the table stays, grants expire on time.
func (b *backend) Stop() {
	b.g.log.Info("stopping on request over the control socket")
	b.stop()
}

func (b *backend) Status() (control.Status, error) {
	g := b.g
	snap := g.w.snapshot()
	st := control.Status{
		Started:       b.started.UTC(),
		Stealth:       snap.cfg.Stealth,
		Realm:         snap.cfg.Realm,
		KeyProblems:   snap.keyProblems,
		ConfigProblem: snap.configProblem,
		TableRepairs:  g.repairs.Load(),
	}
	for _, o := range snap.origins {
		st.Protected = append(st.Protected, control.Protected{Service: o.Service.String(), From: append([]string{}, o.From...)})
	}
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

// Reload is hypd reload: the same full reload as SIGHUP, answered with its outcome.
func (b *backend) Reload(ctx context.Context) (control.ReloadResult, error) {
	applied, restart, err := b.g.w.Reload(ctx)
	if err != nil {
		return control.ReloadResult{}, err
	}
	b.g.log.Info("reloaded on request over the control socket")
	return control.ReloadResult{Applied: applied, NeedsRestart: restart}, nil
}

func (b *backend) Unprotect(svc string) error { return b.g.w.Unprotect(context.Background(), svc) }

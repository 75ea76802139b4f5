package gateway

import (
	"context"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hideyourports/hyp/daemon/config"
)

// protector is what the writer needs of the firewall: what the table hides.
type protector interface {
	Reconfigure(hidden, public []protected.Service, stealth bool) error
}

// knockGate is what the writer needs of the detector besides sequences.
type knockGate interface {
	SetUDPServices(ports []uint16) error
	SetKnockTimeout(d time.Duration) error
}

// sequencer is the server's planning side: which sequences the kernel holds.
type sequencer interface {
	SetKeys(keys []config.Key) error
	Refresh() error
	NextBoundary(now time.Time) time.Time
}

// retryAfter is how soon a pass that failed (nftables refused a change, say) is tried again.
const retryAfter = time.Second

// writer is the one owner of the gateway's desired state: the configuration, the keys, what is
// protected and which sequences the kernel holds. Every change — the keys directory changed, a
// reload (SIGHUP), an unprotect request, a time step — is an event handled by its one goroutine
// (run), and every pass applies in one order: firewall, then the detector's service ports, then
// the sequences. "A key's services are protected before any of its sequences can knock" is then
// the order of three statements in apply, not a property of several locks; no other goroutine
// ever calls Reconfigure, SetUDPServices, SetKeys or Refresh.
type writer struct {
	log      *slog.Logger
	fw       protector
	det      knockGate
	srv      sequencer
	loadKeys func(cfg config.Config) ([]config.Key, []error)
	// loadConfig reads hypd.toml again on a reload; nil: a reload reads the keys only.
	loadConfig func() (config.Config, error)
	level      *slog.LevelVar // the logger's level, set by a reload; may be nil
	save       func(dir string, p Protection) error
	now        func() time.Time

	keysChanged chan struct{} // coalesced: one pending reload of the keys is enough
	unprotects  chan unprotectRequest
	reloads     chan chan reloadReply // hypd reload over the control socket: SIGHUP with an answer
	stopped     chan struct{}         // closed when run returns: requests then fail at once

	// mu guards the fields below. Only run's goroutine writes them (under mu); Status reads them.
	mu            sync.Mutex
	cfg           config.Config
	kept          []protected.Service // hidden before and not given up on purpose
	origins       []Origin            // what the table protects now, and why
	keyProblems   []string
	configProblem string
}

// reloadReply is the outcome of one reload: what it applied, what waits for a restart, or why
// the configuration was refused.
type reloadReply struct {
	applied, restart []string
	err              error
}

type unprotectRequest struct {
	svc   protected.Service
	reply chan error
}

// newWriter fills in w's defaults and channels and returns it.
func newWriter(w *writer) *writer {
	if w.now == nil {
		w.now = time.Now
	}
	if w.save == nil {
		w.save = saveProtection
	}
	if w.loadKeys == nil {
		w.loadKeys = func(cfg config.Config) ([]config.Key, []error) { return config.LoadKeys(cfg.KeysDir, cfg) }
	}
	w.keysChanged = make(chan struct{}, 1)
	w.unprotects = make(chan unprotectRequest)
	w.reloads = make(chan chan reloadReply)
	w.stopped = make(chan struct{})
	return w
}

// KeysChanged asks for the keys to be read again; it never blocks.
func (w *writer) KeysChanged() {
	select {
	case w.keysChanged <- struct{}{}:
	default:
	}
}

// apply is one pass: read the keys, compute what to protect, and apply it in order. A failure
// to protect stops the pass before any new sequence is loaded, so no key can knock for a service
// the table does not hide; the caller retries.
func (w *writer) apply() error {
	keys, problems := w.loadKeys(w.cfg)
	return w.applyKeys(keys, problems)
}

// applyKeys is apply with the keys already read (the first pass at start reads them once, to
// size the detector too).
func (w *writer) applyKeys(keys []config.Key, problems []error) error {
	cfg := w.cfg
	w.noteKeyProblems(problems)
	if len(keys) == 0 {
		w.log.Warn("no keys loaded: every protected service stays hidden until a key file loads", "keys", cfg.KeysDir)
	}
	origins := protection(cfg, keys, w.kept)
	hidden := servicesOf(origins)
	if err := w.fw.Reconfigure(hidden, cfg.Public, cfg.Stealth); err != nil {
		return fmt.Errorf("protecting %s: %w (the keys' sequences are not loaded until this works)", protected.JoinServices(hidden), err)
	}
	w.mu.Lock()
	w.origins = origins
	// What is protected now is kept from now on, whatever happens to the files naming it.
	w.kept = hidden
	w.mu.Unlock()
	if err := w.save(cfg.StateDir, Protection{Protected: hidden, Public: cfg.Public, Stealth: cfg.Stealth}); err != nil {
		w.log.Error("saving what is protected (the table is unaffected; a later start that fails would fall back to an older protection)", "err", err)
	}
	var errs []error
	if err := w.det.SetUDPServices(udpPorts(hidden, cfg.Public)); err != nil {
		// Not a reason to keep keys out: the table hides the services; this only decides which
		// UDP ports the detector never judges as knocks.
		errs = append(errs, fmt.Errorf("telling the detector the UDP services: %w", err))
	}
	if err := w.srv.SetKeys(keys); err != nil {
		errs = append(errs, fmt.Errorf("loading the keys' sequences: %w", err))
	}
	return errors.Join(errs...)
}

// noteKeyProblems remembers the key files that did not load, for status, and logs each once:
// the log is an audit trail, and status lists what is still wrong.
func (w *writer) noteKeyProblems(problems []error) {
	texts := make([]string, len(problems))
	for i, p := range problems {
		texts[i] = p.Error()
		if !slices.Contains(w.keyProblems, texts[i]) {
			w.log.Error("key not loaded; services it protected before stay hidden, but a key file that never loaded protects nothing (name services in hypd.toml to hide them whatever the key files say)", "err", p)
		}
	}
	w.mu.Lock()
	w.keyProblems = texts
	w.mu.Unlock()
}

// run handles events until ctx ends. The first pass must have been done (start).
func (w *writer) run(ctx context.Context, reload <-chan struct{}) {
	defer close(w.stopped)
	step := time.NewTimer(time.Until(w.srv.NextBoundary(w.now())))
	defer step.Stop()
	// retry is armed while the last pass failed; nil channel otherwise.
	var retry <-chan time.Time
	pass := func(why string) {
		if err := w.apply(); err != nil {
			w.log.Error("applying "+why+"; retrying", "err", err)
			retry = time.After(retryAfter)
			return
		}
		retry = nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.keysChanged:
			pass("the keys")
		case <-reload:
			_, reloaded := w.reloadConfig()
			pass("the reloaded configuration")
			reloaded()
		case reply := <-w.reloads:
			// The same full reload as SIGHUP; the answer waits for the pass, so a client that
			// hears "reloaded" finds the new protection in place.
			res, reloaded := w.reloadConfig()
			if res.err == nil {
				if err := w.apply(); err != nil {
					w.log.Error("applying the reloaded configuration; retrying", "err", err)
					retry = time.After(retryAfter)
					res.err = fmt.Errorf("the configuration loaded but applying it failed (retrying): %w", err)
				} else {
					retry = nil
				}
			} else {
				pass("the keys")
			}
			reloaded()
			reply <- res
		case r := <-w.unprotects:
			r.reply <- w.unprotect(r.svc)
		case <-retry:
			pass("the keys and configuration")
		case <-step.C:
			if err := w.srv.Refresh(); err != nil {
				w.log.Error("refreshing sequences", "err", err)
			}
			// A few milliseconds past the boundary, so now is surely in the new window.
			step.Reset(time.Until(w.srv.NextBoundary(w.now())) + 5*time.Millisecond)
		}
	}
}

// Reload asks the writer for a full reload, as SIGHUP does, and waits for its outcome.
func (w *writer) Reload(ctx context.Context) (applied, restart []string, err error) {
	reply := make(chan reloadReply, 1)
	select {
	case w.reloads <- reply:
	case <-w.stopped:
		return nil, nil, errors.New("hypd is stopping")
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	r := <-reply
	return r.applied, r.restart, r.err
}

// Unprotect asks the writer to give up a kept service and waits for the answer.
func (w *writer) Unprotect(ctx context.Context, text string) error {
	svc, err := protected.ParseService(text)
	if err != nil {
		return err
	}
	r := unprotectRequest{svc: svc, reply: make(chan error, 1)}
	select {
	case w.unprotects <- r:
	case <-w.stopped:
		return errors.New("hypd is stopping")
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.reply
}

// unprotect gives up a kept service on the admin's explicit request; run's goroutine only.
func (w *writer) unprotect(svc protected.Service) error {
	var named []string
	found := false
	for _, o := range w.origins {
		if o.Service == svc {
			found = true
			named = o.From
		}
	}
	if !found {
		return fmt.Errorf("%s is not protected", svc)
	}
	if len(named) > 0 {
		return fmt.Errorf("%s is named by %s; remove it there first (then hypd reload)", svc, strings.Join(named, ", "))
	}
	before := w.kept
	w.mu.Lock()
	w.kept = slices.DeleteFunc(slices.Clone(w.kept), func(s protected.Service) bool { return s == svc })
	w.mu.Unlock()
	if err := w.apply(); err != nil {
		w.mu.Lock()
		w.kept = before
		w.mu.Unlock()
		return err
	}
	w.log.Warn("service no longer protected, on request", "service", svc.String())
	return nil
}

// reloadConfig reads the configuration again (SIGHUP, systemctl reload); run's goroutine only. A
// configuration that does not load is refused whole: hypd keeps running with the last good one
// and says why. What can change live is applied by the pass that follows; what cannot is named.
// It returns what to log once that pass is done, so the log says "reloaded" only after it is.
func (w *writer) reloadConfig() (res reloadReply, done func()) {
	if w.loadConfig == nil {
		w.log.Info("SIGHUP: reloading keys")
		return reloadReply{applied: []string{"keys"}}, func() {}
	}
	next, err := w.loadConfig()
	if err != nil {
		w.mu.Lock()
		w.configProblem = err.Error()
		w.mu.Unlock()
		w.log.Error("configuration not reloaded; hypd keeps running with the last good one", "err", err)
		return reloadReply{err: fmt.Errorf("configuration not reloaded, hypd runs on with the last good one: %w", err)}, func() {}
	}
	prev := w.cfg
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
	var applied []string
	if !slices.Equal(prev.Services, next.Services) || !slices.Equal(prev.Public, next.Public) || prev.Stealth != next.Stealth {
		applied = append(applied, "services, public, stealth")
	}
	if prev.Open != next.Open || prev.Uses != next.Uses || prev.Scheme != next.Scheme || prev.Realm != next.Realm {
		applied = append(applied, "key defaults (open, uses, scheme, realm)")
	}
	if prev.KnockTimeout != next.KnockTimeout {
		if err := w.det.SetKnockTimeout(next.KnockTimeout); err != nil {
			w.log.Error("applying knock_timeout", "err", err)
			next.KnockTimeout = prev.KnockTimeout
		} else {
			applied = append(applied, "knock_timeout")
		}
	}
	if prev.LogLevel != next.LogLevel {
		var l slog.Level
		if w.level != nil && l.UnmarshalText([]byte(next.LogLevel)) == nil {
			w.level.Set(l)
			applied = append(applied, "log_level")
		} else {
			restart = append(restart, "log_level")
		}
	}
	w.mu.Lock()
	w.cfg = next
	w.configProblem = ""
	w.mu.Unlock()
	// Services, public, stealth and the key defaults take effect in the pass that follows, which
	// protects what the keys name before any of their sequences is loaded.
	return reloadReply{applied: append(applied, "keys"), restart: restart}, func() {
		w.log.Info("configuration reloaded", "applied", applied, "needs_restart", restart)
		if len(restart) > 0 {
			w.log.Warn("some changed settings take effect only after a restart (hypd restart)", "settings", restart)
		}
	}
}

// snapshot is what status shows of the writer's state.
type snapshot struct {
	cfg           config.Config
	origins       []Origin
	keyProblems   []string
	configProblem string
}

func (w *writer) snapshot() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return snapshot{cfg: w.cfg, origins: slices.Clone(w.origins), keyProblems: slices.Clone(w.keyProblems), configProblem: w.configProblem}
}

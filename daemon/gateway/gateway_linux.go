//go:build linux

package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/server"
	"github.com/hideyourports/hyp/daemon/spent"
)

// Run hides the protected services and serves knocks until ctx ends. On return the firewall
// table stays in place (fail closed): protected services stay hidden and grants expire on time.
func Run(ctx context.Context, cfg config.Config, o Options) (err error) {
	log := o.Logger
	keys, problems := config.LoadKeys(cfg.KeysDir, cfg)
	for _, p := range problems {
		log.Error("key not loaded", "err", p)
	}
	if len(keys) == 0 {
		log.Warn("no keys loaded: every protected service stays hidden until a key file appears", "keys", cfg.KeysDir)
	}

	// Ownership, in the order of acquisition; closed in reverse by the deferred closes.
	fw, err := firewall.Open(firewall.Config{
		Table:     Table,
		Protected: protectedServices(cfg, keys),
		Stealth:   cfg.Stealth,
		Public:    cfg.Public,
	})
	if err != nil {
		return fmt.Errorf("opening firewall table inet %s: %w", Table, err)
	}
	defer func() { err = errors.Join(err, fw.Close()) }()

	det, err := detector.Open(detector.Config{
		Interfaces:   cfg.Interfaces,
		UDPServices:  udpPorts(protectedServices(cfg, keys), cfg.Public),
		KnockTimeout: cfg.KnockTimeout,
		// A deleted, re-created or failing uplink is worth a line: knocks on it depend on it.
		OnInterface: func(s detector.InterfaceState) {
			if s.Attached() {
				log.Info(s.Message(), "interface", s.Name, "mode", s.Mode)
			} else {
				log.Warn(s.Message(), "interface", s.Name, "mode", s.Mode)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("starting the knock detector: %w", err)
	}
	defer func() { err = errors.Join(err, det.Close()) }()

	statePath := ""
	if cfg.StateDir != "" {
		statePath = filepath.Join(cfg.StateDir, "spent.json")
	}
	st, err := spent.Open(statePath)
	if err != nil {
		return err
	}

	srv, err := server.New(server.Options{
		Skew:     cfg.Skew,
		Detector: det,
		Firewall: fw,
		Spent:    st,
		Logger:   log,
		LoadKeys: func() ([]config.Key, []error) { return config.LoadKeys(cfg.KeysDir, cfg) },
		OnKeys: func(keys []config.Key) error {
			// A key file may name services of its own: the table must hide them before the key can
			// knock, and the detector must let their UDP traffic through.
			protected := protectedServices(cfg, keys)
			return errors.Join(fw.Reconfigure(protected, cfg.Public, cfg.Stealth),
				det.SetUDPServices(udpPorts(protected, cfg.Public)))
		},
	})
	if err != nil {
		return err
	}
	if err := srv.SetKeys(keys); err != nil {
		return err
	}

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading keys")
				notify()
			}
		}
	}()
	if w, err := config.Watch(cfg.KeysDir, 200*time.Millisecond); err != nil {
		log.Warn("not watching the keys directory; send SIGHUP after changing keys", "keys", cfg.KeysDir, "err", err)
	} else {
		defer func() { err = errors.Join(err, w.Close()) }()
		go func() {
			for {
				select {
				case <-watchCtx.Done():
					return
				case <-w.Changed():
					notify()
				}
			}
		}()
	}

	// Fail closed also against `nft flush ruleset` (Debian's nftables.service runs it at start):
	// while hypd runs, its table comes back within seconds.
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-t.C:
				rebuilt, err := fw.Ensure()
				if err != nil {
					log.Error("checking the nftables table", "err", err)
				} else if rebuilt {
					log.Warn("nftables table inet " + Table + " was deleted from outside hypd; re-created it (existing grants are lost)")
				}
			}
		}
	}()

	started := time.Now()
	if o.ControlSocket != "" {
		cs, err := control.Listen(o.ControlSocket, &backend{srv: srv, fw: fw, det: det, started: started})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, cs.Close()) }()
	}

	log.Info("hypd running", "interfaces", cfg.Interfaces, "modes", det.AttachModes(), "protected", protectedServices(cfg, keys),
		"keys", len(keys), "stealth", cfg.Stealth, "open", cfg.Open.String())
	err = srv.Run(ctx, changed)
	log.Info("hypd stopping; protected services stay hidden, grants expire on time")
	return err
}

// backend answers the control socket from the live objects.
type backend struct {
	srv     *server.Server
	fw      *firewall.Firewall
	det     *detector.Detector
	started time.Time
}

func (b *backend) Status() (control.Status, error) {
	st := control.Status{
		Started:    b.started.UTC(),
		Keys:       b.srv.Keys(),
		Server:     b.srv.Stats(),
		Interfaces: b.det.AttachModes(),
	}
	c, err := b.det.Counters()
	if err != nil {
		return st, fmt.Errorf("reading detector counters: %w", err)
	}
	st.Detector = control.Counters{Seen: c.Seen, Hits: c.Hits, Resets: c.Resets, Completions: c.Completions, Overflows: c.Overflows, RingbufDrops: c.RingbufDrops}
	gs, err := b.fw.Grants()
	if err != nil {
		return st, fmt.Errorf("reading grants: %w", err)
	}
	for _, g := range gs {
		st.Grants = append(st.Grants, control.Grant{Source: g.Addr.String(), Service: g.Service.String(), SecondsLeft: int64(g.Expires / time.Second)})
	}
	return st, nil
}

func (b *backend) Revoke(addr netip.Addr) error { return b.fw.Revoke(addr) }

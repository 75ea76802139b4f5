// Package keepalive is the helper service's work: one keep-alive loop per profile of the
// helper's store (knock, check, launch the profile's command, knock again before the grant
// lapses, retry with a growing pause), and the live state of those loops, which it serves to
// the logged-in user's programs as the app/helperipc Handler (list, knock now, take a profile
// handed over).
//
// Who may enter: the helper service process alone runs a Runner (as root or LocalSystem, with
// the store's keys); the user's programs reach it only through app/helperipc, which decides per
// peer what each may ask. Nothing the Runner hands out carries a key.
package keepalive

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
)

// Defaults of the helper loop.
const (
	// DefaultKeepAlive applies to helper profiles without a keep-alive: it
	// is under hypd's default open time (1 minute), so the grant never lapses.
	DefaultKeepAlive = 45 * time.Second
	// DefaultRetry is the wait after a failed or ended connect before the
	// next try; it doubles up to MaxRetry while failures repeat.
	DefaultRetry = 15 * time.Second
	MaxRetry     = 5 * time.Minute
)

// Runner keeps every profile of the store alive until its context ends.
type Runner struct {
	Store     store.Store
	Connector *connect.Connector // nil => the real network and clock
	Logf      func(format string, a ...any)
	Retry     time.Duration // 0 => DefaultRetry
	Ready     func()        // nil, or called once the store has loaded and the loops run
	// IPC, when set, is served while Run runs (the tray and the CLI ask
	// for live state and knocks there) and closed when Run returns.
	IPC *helperipc.Listener

	live live
}

// Run loads the store and runs one keep-alive loop per profile. It returns
// when ctx is done and every loop has stopped (each stops its VPN command),
// or at once if the store cannot be read or is empty.
func (r *Runner) Run(ctx context.Context) error {
	if r.IPC != nil {
		defer r.IPC.Close() // also when Run gives up before serving it
	}
	all, err := r.Store.List()
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return fmt.Errorf("the helper store %s holds no profiles: add one with 'hyp helper add NAME' (as root or administrator)", r.Store.Directory())
	}
	conn := &connect.Connector{}
	if r.Connector != nil {
		c := *r.Connector
		conn = &c
	}
	if conn.State == nil {
		// The service's own record of the knocks it sent, beside the
		// profiles it keeps (a service account has no user state directory).
		conn.State = &knockstate.File{Path: r.Store.StatePath()}
	}
	var wg sync.WaitGroup
	r.live.mu.Lock()
	r.live.running, r.live.ctx, r.live.conn, r.live.wg = true, ctx, conn, &wg
	for _, p := range all {
		r.startLoop(p)
	}
	r.live.mu.Unlock()
	r.logf("keeping %d profile(s) alive", len(all))
	if r.IPC != nil {
		srv := &helperipc.Server{Handler: r, Logf: r.Logf}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ctx, r.IPC); err != nil {
				r.logf("%v (the profiles are kept alive all the same)", err)
			}
		}()
	}
	if r.Ready != nil {
		r.Ready()
	}
	wg.Wait()
	r.live.mu.Lock()
	r.live.running, r.live.loops = false, nil
	r.live.mu.Unlock()
	return nil
}

// loop runs the connect flow again whenever it ends, with a growing pause
// while it keeps failing, until ctx is done.
func (r *Runner) loop(ctx context.Context, conn *connect.Connector, p profiles.Profile) {
	base := r.Retry
	if base <= 0 {
		base = DefaultRetry
	}
	wait := base
	clock := conn.Clock
	if clock == nil {
		clock = connect.RealClock{}
	}
	for {
		start := clock.Now()
		err := conn.Run(ctx, p, func(s connect.Step) {
			// The log is root's (private): it names the command; what users read does not.
			r.logf("%s: %s: %s", p.Name, s.Kind, s.Text())
			r.observe(p.Name, s)
		})
		r.ended(p.Name)
		if ctx.Err() != nil {
			return
		}
		if err == nil || clock.Now().Sub(start) > MaxRetry {
			wait = base // it ran for a while: start backing off afresh
		}
		r.logf("%s: connect ended (%v); trying again in %v", p.Name, errOrNil(err), wait)
		ch, stop := clock.After(wait)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-ch:
		case <-r.kicked(p.Name):
			// Asked over the helper channel to knock now.
			stop()
			wait = base
			continue
		}
		wait = min(2*wait, MaxRetry)
	}
}

func errOrNil(err error) any {
	if err == nil {
		return "no error"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err
}

func (r *Runner) logf(format string, a ...any) {
	if r.Logf != nil {
		r.Logf(format, a...)
	}
}

package keepalive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
)

// live is the runner's view of its running profiles: what each loop last
// reported, a way to wake a loop from its retry wait, and who is watching.
type live struct {
	mu sync.Mutex // guards every field below and every *loopState's fields
	// running: set while Run runs; Add starts loops only then, under ctx
	// (Run's: a handed-over profile stops with the others).
	running bool
	ctx     context.Context
	conn    *connect.Connector
	wg      *sync.WaitGroup
	loops   map[string]*loopState
}

// loopState is one profile's loop.
type loopState struct {
	p         profiles.Profile // the key is only used by the loop itself
	connected bool
	lastKnock time.Time
	lastErr   string
	status    string
	since     time.Time
	kick      chan struct{} // cap 1: wakes the loop from its retry wait
	watchers  map[chan connect.Step]struct{}
	cancel    context.CancelFunc
	done      chan struct{}
}

// watchBuffer is how many steps a slow watcher may fall behind before it
// misses some (the loop never waits for a watcher).
const watchBuffer = 64

// observe records a step of p's loop and passes it to the watchers.
func (r *Runner) observe(name string, s connect.Step) {
	r.live.mu.Lock()
	defer r.live.mu.Unlock()
	ls := r.live.loops[name]
	if ls == nil {
		return
	}
	ls.status, ls.since = s.Message, s.At
	switch s.Kind {
	case connect.Checking:
		ls.lastKnock = s.At
	case connect.Connected:
		if ls.p.CheckPort == 0 {
			ls.lastKnock = s.At
		}
		if len(ls.p.Command) == 0 {
			ls.connected, ls.lastErr = true, ""
		}
	case connect.Launched:
		ls.connected, ls.lastErr = true, ""
	case connect.KeepAlive:
		if s.Err != nil {
			ls.lastErr = s.Message
		} else {
			ls.lastKnock = s.At
		}
	case connect.Failed, connect.Stopped:
		ls.connected = false
		if s.Kind == connect.Failed {
			ls.lastErr = s.Message
		}
	}
	for w := range ls.watchers {
		select {
		case w <- s:
		default:
		}
	}
}

// ended records that p's connect flow returned (the loop will retry).
func (r *Runner) ended(name string) {
	r.live.mu.Lock()
	defer r.live.mu.Unlock()
	if ls := r.live.loops[name]; ls != nil {
		ls.connected = false
	}
}

// kicked returns p's wake-up channel.
func (r *Runner) kicked(name string) <-chan struct{} {
	r.live.mu.Lock()
	defer r.live.mu.Unlock()
	if ls := r.live.loops[name]; ls != nil {
		return ls.kick
	}
	return nil
}

// startLoop runs p's loop under Run's context; called with live.mu held.
func (r *Runner) startLoop(p profiles.Profile) {
	if p.KeepAlive <= 0 {
		p.KeepAlive = DefaultKeepAlive
	}
	ctx, cancel := context.WithCancel(r.live.ctx)
	ls := &loopState{p: p, kick: make(chan struct{}, 1), watchers: map[chan connect.Step]struct{}{},
		cancel: cancel, done: make(chan struct{}), status: "starting"}
	if r.live.loops == nil {
		r.live.loops = map[string]*loopState{}
	}
	r.live.loops[p.Name] = ls
	conn, wg := r.live.conn, r.live.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ls.done)
		r.loop(ctx, conn, p)
	}()
}

// Profiles implements helperipc.Handler: the running profiles, no keys.
func (r *Runner) Profiles() []helperipc.ProfileState {
	r.live.mu.Lock()
	defer r.live.mu.Unlock()
	out := make([]helperipc.ProfileState, 0, len(r.live.loops))
	for _, ls := range r.live.loops {
		out = append(out, helperipc.ProfileState{
			Name: ls.p.Name, Host: ls.p.Host, CheckPort: ls.p.CheckPort,
			Command: slices.Clone(ls.p.Command), KeepAlive: ls.p.KeepAlive,
			Connected: ls.connected, LastKnock: ls.lastKnock, LastError: ls.lastErr,
			Status: ls.status, Since: ls.since,
		})
	}
	slices.SortFunc(out, func(a, b helperipc.ProfileState) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Connect implements helperipc.Handler. A profile that is up is reported as
// such, and nothing is sent; otherwise its loop is woken from its retry wait (or is already
// connecting) and the steps are followed until it is up or fails.
func (r *Runner) Connect(ctx context.Context, name string, progress func(helperipc.Step)) error {
	r.live.mu.Lock()
	ls := r.live.loops[name]
	if ls == nil {
		r.live.mu.Unlock()
		return fmt.Errorf("%q: %w (the helper runs %s)", name, helperipc.ErrNotFound, r.namesLocked())
	}
	if ls.connected {
		// Up already: say so and send nothing. The loop's keep-alive knocks
		// renew the grant; a knock here would spend one of the few uses a
		// time step has, and anyone allowed on the channel could spend them
		// all by asking again and again.
		msg := fmt.Sprintf("%s is up; nothing sent (the keep-alive knocks every %v)", name, ls.p.KeepAlive)
		if !ls.lastKnock.IsZero() {
			msg += fmt.Sprintf("; last knock %s", ls.lastKnock.Format(time.TimeOnly))
		}
		r.live.mu.Unlock()
		progress(helperipc.Step{Kind: connect.Connected.String(), Message: msg, At: time.Now()})
		return nil
	}
	w := make(chan connect.Step, watchBuffer)
	ls.watchers[w] = struct{}{}
	select {
	case ls.kick <- struct{}{}:
	default:
	}
	r.live.mu.Unlock()
	defer func() {
		r.live.mu.Lock()
		delete(ls.watchers, w)
		r.live.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not up yet: %w", name, ctx.Err())
		case <-ls.done:
			return fmt.Errorf("the helper stopped %s", name)
		case s := <-w:
			progress(ipcStep(s))
			switch {
			case s.Kind == connect.Launched, s.Kind == connect.Connected && len(ls.p.Command) == 0:
				return nil
			case s.Kind == connect.Failed:
				return errors.New(s.Message)
			case s.Kind == connect.Stopped:
				return fmt.Errorf("the helper stopped %s", name)
			}
		}
	}
}

func (r *Runner) namesLocked() string {
	if len(r.live.loops) == 0 {
		return "no profiles"
	}
	names := make([]string, 0, len(r.live.loops))
	for n := range r.live.loops {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Sprint(names)
}

func ipcStep(s connect.Step) helperipc.Step {
	st := helperipc.Step{Kind: s.Kind.String(), Message: s.Message, At: s.At}
	if s.Err != nil {
		st.Err = s.Err.Error()
	}
	return st
}

// Add implements helperipc.Handler: the profile goes into the store (which
// refuses an existing one unless h.Replace), then its loop starts at once,
// replacing the loop of the profile it replaces.
func (r *Runner) Add(ctx context.Context, h helperipc.HandOver) error {
	cp, _, err := profile.Parse(h.URI.Reveal())
	if err != nil {
		return fmt.Errorf("the handed-over profile %s: %w", h.Name, err)
	}
	p := profiles.FromURI(h.Name, cp)
	p.Command, p.KeepAlive, p.Uses, p.AlwaysOn = slices.Clone(h.Command), h.KeepAlive, h.Uses, true
	if len(h.Sites) > 0 {
		var sites []profiles.Site
		for _, s := range h.Sites {
			sites = append(sites, profiles.Site{Name: s.Name, Host: s.Host, Realm: s.Realm, CheckPort: s.Check})
		}
		if p, err = p.WithSites(sites); err != nil {
			return fmt.Errorf("the handed-over profile %s: %w", h.Name, err)
		}
	}
	if h.Gap > 0 {
		p.Gap = h.Gap
	}
	if err := r.Store.Add(p, h.Replace); err != nil {
		return err
	}
	r.live.mu.Lock()
	old := r.live.loops[p.Name]
	running := r.live.running
	r.live.mu.Unlock()
	if old != nil {
		old.cancel()
		select {
		case <-old.done:
		case <-ctx.Done():
			return fmt.Errorf("stored %s, but its old loop did not stop: %w", p.Name, ctx.Err())
		}
	}
	r.live.mu.Lock()
	defer r.live.mu.Unlock()
	if running && r.live.running {
		r.startLoop(p)
		r.logf("%s: handed over; keeping it alive", p.Name)
	}
	return nil
}

var _ helperipc.Handler = (*Runner)(nil)

// Package connect is the Knock & Connect flow shared by the CLI, the tray app
// and the helper service: knock, wait for the check port to answer, knock once
// more if it does not, launch the VPN command, and keep the grant alive while
// the VPN runs. Every step is reported to a callback in words a person can act
// on.
//
// It imports no GUI: the tray app is one more caller. The network, the clock
// and process launching are interfaces so the whole flow, including the
// keep-alive cadence, is tested without sleeping or sending a packet.
package connect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
)

// Defaults of a Connector.
const (
	DefaultCheckWait  = 3 * time.Second        // how long one check waits for the port to answer
	DefaultCheckEvery = 250 * time.Millisecond // between check dials
	DefaultMaxDial    = time.Second            // one check dial; an unopened gateway drops the SYN
	DefaultStopGrace  = 5 * time.Second        // from SIGTERM to SIGKILL for the VPN command
)

// StepKind says what a Step reports.
type StepKind int

// The steps, in the order a successful Run reports them.
const (
	Knocking  StepKind = iota // a knock is being sent (first, retry or keep-alive)
	Checking                  // waiting for the check port to answer
	Connected                 // the gateway opened (check answered, or knock sent when there is no check port)
	Launched                  // the VPN command started
	KeepAlive                 // a keep-alive knock went out (Err set if it failed; the VPN keeps running)
	Exited                    // the VPN command ended by itself with status 0
	Stopped                   // cancelled: the VPN command (if any) was stopped
	Failed                    // the flow gave up; Err and Message say why
)

var kindNames = [...]string{"knocking", "checking", "connected", "launched", "keep-alive", "exited", "stopped", "failed"}

func (k StepKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Step is one progress report. Message is a complete sentence for people;
// Err is set on Failed (and on a failed KeepAlive).
type Step struct {
	Kind    StepKind
	Profile string
	Message string
	Err     error
	At      time.Time
}

func (s Step) String() string { return s.Kind.String() + ": " + s.Message }

// Knocker sends one knock for p at the time step holding at, with a use
// counter. *NetKnocker is the real one.
type Knocker interface {
	Knock(ctx context.Context, p profiles.Profile, at time.Time, counter uint32) (knock.Result, error)
}

// Checker reports whether tcp/port on host answers now; *knock.Checker is
// the real one. It must honour ctx's deadline.
type Checker interface {
	Check(ctx context.Context, host string, port uint16) error
}

// Launcher starts the VPN command. ExecLauncher is the real one.
type Launcher interface {
	// Start runs argv. When ctx is cancelled the process must be stopped
	// gracefully and Wait must return.
	Start(ctx context.Context, argv []string) (Process, error)
}

// Process is a started VPN command.
type Process interface {
	Wait() error // the exit status; returns once the process is gone
}

// Clock is time, injected. RealClock is the real one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, and a
	// function that releases the timer early.
	After(d time.Duration) (<-chan time.Time, func())
}

// RealClock is the system clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Connector runs the flow. The zero value uses the real network, clock and
// process launcher; a Connector may be shared by goroutines.
type Connector struct {
	Knocker  Knocker  // nil => &NetKnocker{}
	Checker  Checker  // nil => &knock.Checker{}
	Launcher Launcher // nil => &ExecLauncher{}
	Clock    Clock    // nil => RealClock{}

	CheckWait  time.Duration // 0 => DefaultCheckWait
	CheckEvery time.Duration // 0 => DefaultCheckEvery
	MaxDial    time.Duration // 0 => DefaultMaxDial
}

// Run takes p from closed to connected: knock, check (and knock once more if
// the check port stays silent), launch p.Command, and re-knock every
// p.KeepAlive while the command runs. With no command it returns once the
// gateway has opened, unless p.KeepAlive is set, in which case it keeps
// knocking until ctx is cancelled (what the helper service wants). A command
// that exits with status 0 (a launcher such as "wg-quick up", which leaves the
// tunnel behind) ends Run, unless p.KeepAlive is set: then the keep-alive
// knocks go on until ctx is cancelled.
//
// progress may be nil; it is called from Run's goroutine. Run returns nil
// on success, ctx.Err() when cancelled (after stopping the command), or the
// error of the Failed step.
func (c *Connector) Run(ctx context.Context, p profiles.Profile, progress func(Step)) error {
	r := c.runner(p, progress)
	if err := r.open(ctx); err != nil {
		return err
	}
	if len(p.Command) == 0 {
		if p.KeepAlive <= 0 {
			return nil
		}
		return r.keepAlive(ctx, nil)
	}
	return r.launch(ctx)
}

// KnockOnly knocks, checks and retries like Run, then returns: no command,
// no keep-alive.
func (c *Connector) KnockOnly(ctx context.Context, p profiles.Profile, progress func(Step)) error {
	return c.runner(p, progress).open(ctx)
}

func (c *Connector) runner(p profiles.Profile, progress func(Step)) *runner {
	r := &runner{c: *c, p: p, progress: progress}
	if r.c.Knocker == nil {
		r.c.Knocker = &NetKnocker{}
	}
	if r.c.Checker == nil {
		r.c.Checker = &knock.Checker{}
	}
	if r.c.Launcher == nil {
		r.c.Launcher = &ExecLauncher{}
	}
	if r.c.Clock == nil {
		r.c.Clock = RealClock{}
	}
	if r.c.CheckWait <= 0 {
		r.c.CheckWait = DefaultCheckWait
	}
	if r.c.CheckEvery <= 0 {
		r.c.CheckEvery = DefaultCheckEvery
	}
	if r.c.MaxDial <= 0 {
		r.c.MaxDial = DefaultMaxDial
	}
	return r
}

// runner is one Run: a copy of the Connector with defaults filled in.
type runner struct {
	c        Connector
	p        profiles.Profile
	progress func(Step)
}

func (r *runner) report(kind StepKind, err error, format string, a ...any) {
	if r.progress == nil {
		return
	}
	r.progress(Step{Kind: kind, Profile: r.p.Name, Message: fmt.Sprintf(format, a...), Err: err, At: r.c.Clock.Now()})
}

// fail reports a Failed step and returns its error.
func (r *runner) fail(err error, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	r.report(Failed, err, "%s", msg)
	return &Error{Profile: r.p.Name, Reason: msg, Err: err}
}

// Error is what Run returns for a Failed step: Reason is the sentence the
// step carried.
type Error struct {
	Profile string
	Reason  string
	Err     error
}

func (e *Error) Error() string { return e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// open knocks until the gateway is open: one knock, a check, and if the
// check port stays silent one more knock for the next time step. Resending
// the same sequence would be useless: the gateway spends a sequence on first
// use, so if it arrived the resend grants nothing, and if the clocks disagree
// it is wrong again. The next step's sequence is within the gateway's default
// skew, covers a local clock that runs a little slow, and works for both
// schemes (the hyp scheme has no use counter).
func (r *runner) open(ctx context.Context) error {
	at := r.c.Clock.Now()
	res, err := r.knock(ctx, at, "knocking %s", r.p.Host)
	if err != nil {
		return err
	}
	if r.p.CheckPort == 0 {
		r.report(Connected, nil, "knocked %s (%s); no check port, so assuming it opened", r.p.Host, res.Target)
		return nil
	}
	if _, ok := r.check(ctx, res); ok {
		return nil
	}
	if ctx.Err() != nil {
		return r.cancelled(ctx)
	}
	next := at.Add(time.Duration(r.p.Params.Step) * time.Second)
	res, err = r.knock(ctx, next, "no answer from tcp/%d yet; knocking %s again with the next time step", r.p.CheckPort, r.p.Host)
	if err != nil {
		return err
	}
	last, ok := r.check(ctx, res)
	if ok {
		return nil
	}
	if ctx.Err() != nil {
		return r.cancelled(ctx)
	}
	now := r.c.Clock.Now().UTC()
	return r.fail(last, "no answer from tcp/%d on %s after two knocks — is the clock right? local time is %s (last error: %v)",
		r.p.CheckPort, res.Target, now.Format("2006-01-02 15:04:05 MST"), last)
}

func (r *runner) knock(ctx context.Context, at time.Time, format string, a ...any) (knock.Result, error) {
	r.report(Knocking, nil, format, a...)
	res, err := r.c.Knocker.Knock(ctx, r.p, at, 0)
	if err != nil {
		if ctx.Err() != nil {
			return res, r.cancelled(ctx)
		}
		var re *knock.ResolveError
		if errors.As(err, &re) {
			return res, r.fail(err, "cannot find %s: %v", r.p.Host, re.Err)
		}
		return res, r.fail(err, "could not send the knock to %s: %v", r.p.Host, err)
	}
	return res, nil
}

// check dials the knocked address (grants are per address, and a fresh
// lookup might pick another family) until it answers or CheckWait is over.
// It returns the last dial error and whether the port answered.
func (r *runner) check(ctx context.Context, res knock.Result) (last error, ok bool) {
	r.report(Checking, nil, "waiting up to %v for tcp/%d on %s to answer", r.c.CheckWait, r.p.CheckPort, res.Target)
	deadline := r.c.Clock.Now().Add(r.c.CheckWait)
	for {
		left := deadline.Sub(r.c.Clock.Now())
		if left <= 0 {
			break
		}
		dctx, cancel := context.WithTimeout(ctx, min(left, r.c.MaxDial))
		err := r.c.Checker.Check(dctx, res.Target.String(), r.p.CheckPort)
		cancel()
		if err == nil {
			r.report(Connected, nil, "tcp/%d on %s answered: %s is open", r.p.CheckPort, res.Target, r.p.Host)
			return nil, true
		}
		last = err
		if ctx.Err() != nil {
			return last, false
		}
		if r.sleep(ctx, min(r.c.CheckEvery, deadline.Sub(r.c.Clock.Now()))) != nil {
			return last, false
		}
	}
	if last == nil {
		last = errors.New("no time to dial")
	}
	return last, false
}

func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	ch, stop := r.c.Clock.After(d)
	defer stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		return nil
	}
}

func (r *runner) cancelled(ctx context.Context) error {
	r.report(Stopped, nil, "cancelled")
	return ctx.Err()
}

// launch starts the command and keeps the grant alive while it runs.
func (r *runner) launch(ctx context.Context) error {
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	proc, err := r.c.Launcher.Start(pctx, r.p.Command)
	if err != nil {
		return r.fail(err, "could not start the VPN command %q: %v", r.p.Command[0], err)
	}
	r.report(Launched, nil, "started %s", quoteArgv(r.p.Command))
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	return r.keepAlive(ctx, exited)
}

// keepAlive re-knocks every p.KeepAlive until ctx is done or the command
// exits (exited is nil when there is no command). A failed keep-alive knock
// is reported but does not stop the VPN: the grant usually outlives one
// missed renewal, and the next tick tries again.
func (r *runner) keepAlive(ctx context.Context, exited <-chan error) error {
	var tick <-chan time.Time
	release := func() {}
	arm := func() {
		release()
		if r.p.KeepAlive > 0 {
			tick, release = r.c.Clock.After(r.p.KeepAlive)
		}
	}
	arm()
	defer func() { release() }()
	for {
		select {
		case <-ctx.Done():
			if exited != nil {
				<-exited // the launcher stops the process on cancel
				r.report(Stopped, nil, "cancelled; stopped %s", r.p.Command[0])
				return ctx.Err()
			}
			return r.cancelled(ctx)
		case err := <-exited:
			if err != nil {
				return r.fail(err, "the VPN command %s ended: %v", r.p.Command[0], err)
			}
			r.report(Exited, nil, "the VPN command %s finished", r.p.Command[0])
			if r.p.KeepAlive <= 0 {
				return nil
			}
			exited = nil // a launcher like "wg-quick up": the tunnel stays, keep knocking
		case <-tick:
			res, err := r.c.Knocker.Knock(ctx, r.p, r.c.Clock.Now(), 0)
			switch {
			case ctx.Err() != nil:
				continue // the Done case reports it
			case err != nil:
				r.report(KeepAlive, err, "keep-alive knock to %s failed: %v; trying again in %v", r.p.Host, err, r.p.KeepAlive)
			default:
				r.report(KeepAlive, nil, "keep-alive knock to %s (%s); next in %v", r.p.Host, res.Target, r.p.KeepAlive)
			}
			arm()
		}
	}
}

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\"'\\$") {
			a = fmt.Sprintf("%q", a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

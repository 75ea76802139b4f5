// Package connect is the Knock & Connect flow shared by the CLI (hyp knock and
// hyp connect), the tray app and the helper service: knock, wait for the check
// port to answer, knock once more if it does not, launch the VPN command, and
// keep the grant alive while the VPN runs. Every step is reported to a callback
// in words a person can act on.
//
// The gateway's name is resolved first: a name that does not resolve fails at
// once with the resolver's reason and spends nothing. Every knock then
// reserves a use the gateway has not spent (app/knockstate), per key and
// gateway address, so a second knock within one time step opens as the first
// did. A check port that already answers from here needs no knock at all
// (Connector.PreCheck), and a spent budget is a failure only when the service
// does not answer: then the message gives the last real cause. The check
// dials with short, doubling timeouts: a SYN that raced the grant and was
// dropped costs the next few milliseconds, not the kernel's one-second
// retransmit.
//
// It imports no GUI: the tray app is one more caller. The network, the clock
// and process launching are interfaces so the whole flow, including the
// keep-alive cadence, is tested without sleeping or sending a packet.
package connect

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hideyourports/hyp/app/command"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// Defaults of a Connector.
const (
	DefaultCheckWait = 3 * time.Second // how long one check waits for the port to answer
	// DefaultFirstDial is the first check dial's timeout; each next one
	// doubles, up to DefaultMaxDial. A LAN answers a SYN in well under a
	// millisecond, so a dial still waiting after 5 ms had its SYN dropped
	// (it raced the grant) and the next dial will get through; a slow link
	// gets dials long enough for its round trip after a few doublings.
	DefaultFirstDial = 5 * time.Millisecond
	DefaultMaxDial   = time.Second     // the longest check dial
	DefaultStopGrace = 5 * time.Second // from SIGTERM to SIGKILL for the VPN command
	// DefaultPreCheck is how long the CLI's look before a knock waits for the
	// check port (Connector.PreCheck). An open port on a path of a few
	// hundred milliseconds answers in time, with room for a busy machine; a
	// closed gateway drops the SYN, so this is what a knock pays extra when
	// a grant of ours has lapsed (a first knock has no look before it), and
	// a slower answer only costs a knock, as before.
	DefaultPreCheck = 500 * time.Millisecond
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
//
// Neither Message nor Err names the VPN command: a helper profile's command is
// root's (it may carry a token or a path worth hiding) and the helper passes
// both on to the users it serves. Detail is the same sentence naming the
// command, for a step about it, for whoever owns the command (the CLI's own
// user, the helper's log); "" for the other steps.
type Step struct {
	Kind    StepKind
	Profile string
	// Site is the site of the profile the step is about; "" for a profile without sites.
	Site    string
	Message string
	Detail  string
	Err     error
	At      time.Time
}

func (s Step) String() string { return s.Kind.String() + ": " + s.Message }

// Text is the sentence for the command's owner: Detail when the step has one, else Message.
func (s Step) Text() string {
	if s.Detail != "" {
		return s.Detail
	}
	return s.Message
}

// Knocker sends one knock for p at the time step holding at, with a use
// counter. *NetKnocker is the real one. The Connector picks at and counter
// from its knock state, so a Knocker never chooses a sequence itself.
type Knocker interface {
	Knock(ctx context.Context, p profiles.Profile, at time.Time, counter uint32) (knock.Result, error)
}

// AddrResolver is a Knocker that can say which address it would knock.
// *NetKnocker is one. The Connector resolves the host before it spends a
// knock, keys the knock budget by the address, checks and knocks that
// address; a Knocker without it is handed the host as given, and the budget
// is keyed by the host's name.
type AddrResolver interface {
	Resolve(ctx context.Context, host string) (netip.Addr, error)
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
	// State hands out the uses to knock; nil => the user's state file
	// (knockstate.DefaultPath). The helper service passes its own.
	State knockstate.Reserver

	CheckWait time.Duration // 0 => DefaultCheckWait
	FirstDial time.Duration // 0 => DefaultFirstDial
	MaxDial   time.Duration // 0 => DefaultMaxDial
	// PreCheck, when positive, has Run and KnockOnly first dial the check
	// port for up to this long when the knock state says a knock of ours
	// went to this gateway lately: if it answers from here, the gateway is
	// open for this address already and no knock is spent. 0 knocks every
	// time (the tray's Test knock, which is meant to knock).
	// DefaultPreCheck is what hyp knock --check and hyp connect use.
	PreCheck time.Duration
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
	r, err := c.openSites(ctx, p, progress)
	if err != nil {
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
	_, err := c.openSites(ctx, p, progress)
	return err
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
	if r.c.FirstDial <= 0 {
		r.c.FirstDial = DefaultFirstDial
	}
	if r.c.MaxDial <= 0 {
		r.c.MaxDial = DefaultMaxDial
	}
	r.c.FirstDial = min(r.c.FirstDial, r.c.MaxDial)
	if r.c.State == nil {
		r.c.State = defaultState{}
	}
	return r
}

// runner is one Run: a copy of the Connector with defaults filled in.
type runner struct {
	c        Connector
	p        profiles.Profile // for a profile with sites, as it knocks the site (profiles.At)
	site     string           // the site's name; "" for a profile without sites
	progress func(Step)
}

// gateway is where a knock goes: the address the host resolved to (or the
// host as given, for a Knocker that does not resolve), which the check
// dials and the knock budget is keyed by, and the profile the Knocker is
// handed.
type gateway struct {
	addr string           // what the check dials and the budget is keyed by
	p    profiles.Profile // r.p, with Host set to addr when it was resolved
}

func (r *runner) report(kind StepKind, err error, format string, a ...any) {
	if r.progress == nil {
		return
	}
	r.progress(Step{Kind: kind, Profile: r.p.Name, Site: r.site, Message: fmt.Sprintf(format, a...), Err: err, At: r.c.Clock.Now()})
}

// reportCommand reports a step about the VPN command: public without the argv, detail with it.
func (r *runner) reportCommand(kind StepKind, err error, public, detail string) {
	if r.progress == nil {
		return
	}
	r.progress(Step{Kind: kind, Profile: r.p.Name, Site: r.site, Message: public, Detail: detail, Err: err, At: r.c.Clock.Now()})
}

// failCommand reports a Failed step about the VPN command and returns its error, whose text
// (and the wrapped Err's) does not name the command; errors.Unwrap reaches the launcher's own.
func (r *runner) failCommand(err error, publicf, detail string) error {
	perr := &commandError{text: commandCause(err, r.p.Command), err: err}
	msg := fmt.Sprintf(publicf, perr.text)
	r.reportCommand(Failed, perr, msg, detail)
	return &Error{Profile: r.p.Name, Site: r.site, Reason: msg, Err: perr}
}

// fail reports a Failed step and returns its error.
func (r *runner) fail(err error, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	r.report(Failed, err, "%s", msg)
	return &Error{Profile: r.p.Name, Site: r.site, Reason: msg, Err: err}
}

// Error is what Run returns for a Failed step: Reason is the sentence the
// step carried.
type Error struct {
	Profile string
	Site    string // the site that failed, for a profile with sites; "" when all did
	Reason  string
	Err     error
}

func (e *Error) Error() string { return e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// open knocks until the gateway is open: one knock, a check, and if the
// check port stays silent one more knock. Each knock sends a use the state
// has not handed out before: the gateway spends a sequence on first use, so
// a resend grants nothing. After the current window's uses the next window
// comes first, which also covers a local clock that runs a little slow.
//
// Before any of it the host is resolved (a name that does not resolve fails
// here and spends nothing) and, with PreCheck, the check port is asked
// whether it answers already. When every use is spent, the check port
// decides: answering is success, silence fails with the last real cause.
func (r *runner) open(ctx context.Context) error {
	gw, err := r.resolve(ctx)
	if err != nil {
		return err
	}
	if r.p.CheckPort != 0 && r.c.PreCheck > 0 && r.recent(gw) {
		if r.answers(ctx, gw.addr, r.c.PreCheck) {
			r.report(Connected, nil, "tcp/%d on %s already answers from here: %s is open, no knock sent", r.p.CheckPort, gw.addr, r.p.Host)
			return nil
		}
		if ctx.Err() != nil {
			return r.cancelled(ctx)
		}
	}
	res, err := r.knock(ctx, gw, "knocking %s", r.p.Host)
	if err != nil {
		return r.spent(ctx, gw, err)
	}
	if r.p.CheckPort == 0 {
		r.report(Connected, nil, "knocked %s (%s); no check port, so assuming it opened", r.p.Host, res.Target)
		return nil
	}
	last, ok := r.check(ctx, res.Target.String())
	if ok {
		r.record(gw, knockstate.Outcome{Answered: true})
		return nil
	}
	if ctx.Err() != nil {
		return r.cancelled(ctx)
	}
	n := max(r.record(gw, knockstate.Outcome{Cause: last.Error()}), 1)
	res, err = r.knock(ctx, gw, "no answer from tcp/%d yet; knocking %s again with a new sequence", r.p.CheckPort, r.p.Host)
	if err != nil {
		return r.spent(ctx, gw, err)
	}
	last, ok = r.check(ctx, res.Target.String())
	if ok {
		r.record(gw, knockstate.Outcome{Answered: true})
		return nil
	}
	if ctx.Err() != nil {
		return r.cancelled(ctx)
	}
	n = max(r.record(gw, knockstate.Outcome{Cause: last.Error()}), n+1)
	return r.fail(last, "%s", r.silence(res.Target.String(), n, last.Error()))
}

// silence is the cause of a check port that stayed silent after n knocks:
// most often the clock (the sequence is the time step's) or a key the
// gateway no longer holds.
func (r *runner) silence(addr string, n int, last string) string {
	knocks := "one knock"
	if n == 2 {
		knocks = "two knocks"
	} else if n > 2 {
		knocks = fmt.Sprintf("%d knocks", n)
	}
	now := r.c.Clock.Now().UTC()
	return fmt.Sprintf("no answer from tcp/%d on %s after %s — is the clock right? local time is %s (last error: %v)",
		r.p.CheckPort, addr, knocks, now.Format("2006-01-02 15:04:05 MST"), last)
}

// recent reports whether a knock of ours went to gw lately, so a grant may
// be open: only then is the look before knocking worth its wait, which a
// closed gateway (it drops the SYN) makes the whole of PreCheck. A state
// that cannot be read says yes: the look costs time, never a knock.
func (r *runner) recent(gw gateway) bool {
	ok, err := r.c.State.Recent(r.p.Key, r.p.Params, gw.addr, r.c.Clock.Now())
	return ok || err != nil
}

// record notes a checked knock's outcome in the knock state and returns how
// many checked knocks in a row went unanswered. A state that cannot be
// written costs only the cause of a later message, so its error is dropped.
func (r *runner) record(gw gateway, o knockstate.Outcome) int {
	n, _ := r.c.State.Record(r.p.Key, r.p.Params, gw.addr, o, r.c.Clock.Now())
	return n
}

// spent handles a knock that failed to go out. When the reason is a spent
// budget and there is a check port, the port decides: if it answers, the
// gateway is open for this address and that is success; if not, the
// failure carries the budget's last real cause.
func (r *runner) spent(ctx context.Context, gw gateway, err error) error {
	var ex *knockstate.ExhaustedError
	if !errors.As(err, &ex) {
		return err
	}
	if r.p.CheckPort == 0 {
		return r.fail(ex, "not knocking %s: %v (no check port, so hyp cannot tell whether they opened)", r.p.Host, ex)
	}
	r.report(Checking, nil, "no knock left that %s accepts before %s; asking tcp/%d whether it is open already", r.p.Host, ex.Next.Format("15:04:05"), r.p.CheckPort)
	last, ok := r.check(ctx, gw.addr)
	if ok {
		r.record(gw, knockstate.Outcome{Answered: true})
		return nil
	}
	if ctx.Err() != nil {
		return r.cancelled(ctx)
	}
	next := ex.Next.Format("15:04:05")
	if ex.Unanswered == 0 {
		// No checked knock of this step went unanswered: they opened it
		// (or were not checked), and the grant has run out since.
		return r.fail(ex, "not knocking %s: tcp/%d on %s does not answer (last error: %v), and every knock %s accepts now was sent already; none was seen to fail, so the grant they opened has likely run out; the next knock is accepted from %s",
			r.p.Host, r.p.CheckPort, gw.addr, last, r.p.Host, next)
	}
	return r.fail(ex, "not knocking %s: %s; every knock the gateway accepts now was sent already, the next one is accepted from %s",
		r.p.Host, r.silence(gw.addr, ex.Unanswered, ex.Cause), next)
}

// resolve finds the address to knock, before anything is spent, and fails
// the flow with the resolver's reason if there is none.
func (r *runner) resolve(ctx context.Context) (gateway, error) {
	gw, err := r.lookup(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return gateway{}, r.cancelled(ctx)
		}
		reason := err
		var re *knock.ResolveError
		if errors.As(err, &re) {
			reason = re.Err
		}
		return gateway{}, r.fail(err, "cannot find %s: %v; no knock sent", r.p.Host, reason)
	}
	return gw, nil
}

// lookup resolves the host through the Knocker. A Knocker that does not
// resolve gets the host as given.
func (r *runner) lookup(ctx context.Context) (gateway, error) {
	ar, ok := r.c.Knocker.(AddrResolver)
	if !ok {
		return gateway{addr: r.p.Host, p: r.p}, nil
	}
	a, err := ar.Resolve(ctx, r.p.Host)
	if err != nil {
		return gateway{}, err
	}
	p := r.p
	p.Host = a.String()
	return gateway{addr: a.String(), p: p}, nil
}

// answers is one quiet dial of the check port with timeout d.
func (r *runner) answers(ctx context.Context, addr string, d time.Duration) bool {
	dctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return r.c.Checker.Check(dctx, addr, r.p.CheckPort) == nil
}

// knock reserves the next unspent use, reports a Knocking step naming it,
// and sends it.
func (r *runner) knock(ctx context.Context, gw gateway, format string, a ...any) (knock.Result, error) {
	u, err := r.c.State.Reserve(r.p.Key, r.p.Params, gw.addr, r.p.Uses, r.c.Clock.Now())
	if err != nil {
		var ex *knockstate.ExhaustedError
		if errors.As(err, &ex) {
			return knock.Result{}, err // the caller asks the check port first
		}
		r.report(Knocking, nil, format, a...)
		return knock.Result{}, r.fail(err, "not knocking %s: %v", r.p.Host, err)
	}
	r.report(Knocking, nil, format+" (time step %d, use %d)", append(a, u.Window, u.Counter)...)
	res, err := r.send(ctx, gw, u)
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

// send knocks a reserved use. The reservation is written before: if the
// knock then fails to go out, one use is lost, which is cheap; the other
// order could resend a spent sequence after a crash.
func (r *runner) send(ctx context.Context, gw gateway, u knockstate.Use) (knock.Result, error) {
	at := time.Unix(int64(u.Window)*r.p.Params.Step, 0)
	return r.c.Knocker.Knock(ctx, gw.p, at, u.Counter)
}

// reserveAndSend is a knock without reports, for keep-alives.
func (r *runner) reserveAndSend(ctx context.Context, gw gateway) (knock.Result, error) {
	u, err := r.c.State.Reserve(r.p.Key, r.p.Params, gw.addr, r.p.Uses, r.c.Clock.Now())
	if err != nil {
		return knock.Result{}, err
	}
	return r.send(ctx, gw, u)
}

// check dials the knocked address (grants are per address, and a fresh
// lookup might pick another family) until it answers or CheckWait is over.
// Each dial gets FirstDial, then twice the last, up to MaxDial; a dial that
// fails early (a refusal) waits out its slot, so a closed port is not
// hammered. It returns the last dial error and whether the port answered.
func (r *runner) check(ctx context.Context, addr string) (last error, ok bool) {
	r.report(Checking, nil, "waiting up to %v for tcp/%d on %s to answer", r.c.CheckWait, r.p.CheckPort, addr)
	start := r.c.Clock.Now()
	deadline := start.Add(r.c.CheckWait)
	slot := r.c.FirstDial
	for {
		begin := r.c.Clock.Now()
		left := deadline.Sub(begin)
		if left <= 0 {
			break
		}
		try := min(left, slot)
		dctx, cancel := context.WithTimeout(ctx, try)
		err := r.c.Checker.Check(dctx, addr, r.p.CheckPort)
		cancel()
		if err == nil {
			took := r.c.Clock.Now().Sub(start)
			r.report(Connected, nil, "tcp/%d on %s answered after %v: %s is open", r.p.CheckPort, addr, took.Round(100*time.Microsecond), r.p.Host)
			return nil, true
		}
		last = err
		if ctx.Err() != nil {
			return last, false
		}
		if r.sleep(ctx, try-r.c.Clock.Now().Sub(begin)) != nil {
			return last, false
		}
		slot = min(2*slot, r.c.MaxDial)
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
		return r.failCommand(err, "could not start the VPN command: %s", fmt.Sprintf("could not start the VPN command %q: %v", r.p.Command[0], err))
	}
	r.reportCommand(Launched, nil, "started the VPN command", "started "+command.Join(r.p.Command))
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
				r.reportCommand(Stopped, nil, "cancelled; stopped the VPN command", "cancelled; stopped "+r.p.Command[0])
				return ctx.Err()
			}
			return r.cancelled(ctx)
		case err := <-exited:
			if err != nil {
				return r.failCommand(err, "the VPN command ended: %s", fmt.Sprintf("the VPN command %s ended: %v", r.p.Command[0], err))
			}
			r.reportCommand(Exited, nil, "the VPN command finished", "the VPN command "+r.p.Command[0]+" finished")
			if r.p.KeepAlive <= 0 {
				return nil
			}
			exited = nil // a launcher like "wg-quick up": the tunnel stays, keep knocking
		case <-tick:
			r.keepAliveKnock(ctx)
			arm()
		}
	}
}

// keepAliveKnock is one keep-alive: resolve (the address may have moved),
// knock the next unspent use, and report. With every use of the time step
// spent, a check port that still answers makes it a success without a knock:
// the grant is open, and the next step's knock renews it.
func (r *runner) keepAliveKnock(ctx context.Context) {
	again := func(err error) {
		r.report(KeepAlive, err, "keep-alive knock to %s failed: %v; trying again in %v", r.p.Host, err, r.p.KeepAlive)
	}
	gw, err := r.lookup(ctx)
	if err != nil {
		if ctx.Err() == nil {
			again(err)
		}
		return
	}
	res, err := r.reserveAndSend(ctx, gw)
	if ctx.Err() != nil {
		return // the Done case reports it
	}
	var ex *knockstate.ExhaustedError
	if errors.As(err, &ex) && r.p.CheckPort != 0 && r.answers(ctx, gw.addr, r.c.CheckWait) {
		r.report(KeepAlive, nil, "keep-alive: tcp/%d on %s still answers; no knock left that %s accepts before %s, next try in %v",
			r.p.CheckPort, gw.addr, r.p.Host, ex.Next.Format("15:04:05"), r.p.KeepAlive)
		return
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		again(err)
		return
	}
	r.report(KeepAlive, nil, "keep-alive knock to %s (%s); next in %v", r.p.Host, res.Target, r.p.KeepAlive)
}

// defaultState is the user's knock state file, found when first used so a
// Connector that is never used needs no home directory.
type defaultState struct{}

func (defaultState) Reserve(k psk.Key, p sequence.Params, gateway string, uses int, now time.Time) (knockstate.Use, error) {
	path, err := knockstate.DefaultPath()
	if err != nil {
		return knockstate.Use{}, err
	}
	return (&knockstate.File{Path: path}).Reserve(k, p, gateway, uses, now)
}

func (defaultState) Recent(k psk.Key, p sequence.Params, gateway string, now time.Time) (bool, error) {
	path, err := knockstate.DefaultPath()
	if err != nil {
		return false, err
	}
	return (&knockstate.File{Path: path}).Recent(k, p, gateway, now)
}

func (defaultState) Record(k psk.Key, p sequence.Params, gateway string, o knockstate.Outcome, now time.Time) (int, error) {
	path, err := knockstate.DefaultPath()
	if err != nil {
		return 0, err
	}
	return (&knockstate.File{Path: path}).Record(k, p, gateway, o, now)
}

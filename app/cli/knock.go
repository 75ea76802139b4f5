package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// Defaults of hyp knock.
const defaultGap = profiles.DefaultGap // keeps datagrams in order on paths that reorder back-to-back packets

type knockOptions struct {
	target      targetFlags
	gap         time.Duration
	maxJitterMS int
	checkWait   time.Duration
	refresh     time.Duration
	refreshMin  int
	uses        int
	verbose     bool
}

func knockCommand() Command {
	return Command{
		Name:    "knock",
		Args:    "[flags] TARGET",
		Summary: "send a knock (and optionally wait for the service to open)",
		Help: `Sends TARGET's knock sequence: one UDP datagram per port, in order, from
one socket. TARGET is a saved profile, a hyp:// URI, "-" to read the URI
from stdin, or a host name or address with --secret FILE.

The host is resolved first: a name that does not resolve fails at once and
spends no knock. Every knock sends a sequence the gateway has not seen: a
gateway spends a sequence on its first use, so hyp remembers, per key and
gateway address, which it sent (in $XDG_STATE_HOME/hyp/knocks.json,
%LOCALAPPDATA%\hyp on Windows; the file names keys by a fingerprint, never
the key). A second knock within one time step takes the next time step, a
third the previous one (or the next use counter, with --uses).

With --check (or a check port in the URI or profile), hyp first asks the
port whether it answers from here already: if it does, that is success and
no knock is spent. Otherwise hyp knocks and dials the port with short,
doubling timeouts until it answers, knocks once more with a new sequence if
it does not, and gives up after two checks. When every knock the gateway
accepts in this time step was sent already, the port decides: answering is
success, silence fails with the last real cause (no answer after N knocks:
is the clock right? has the key been revoked?) and when the next knock is
accepted.

The reference client's spelling works too:
  hyp knock HOST --secret FILE --maxjitter MS --refreshtime MINUTES

Exit status: 0 knocked (and the --check port answered); 1 knocked but the
check never answered, or the network failed; 2 bad input (flags, URI, key
file, unknown host). With --refresh, hyp knocks again every interval until
interrupted, reports failures on stderr and exits 0 when interrupted.`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var o knockOptions
			o.target.register(fs, true)
			fs.DurationVar(&o.gap, "gap", defaultGap, "wait `DURATION` between datagrams")
			fs.IntVar(&o.maxJitterMS, "maxjitter", 0, "add a random wait of up to `MS` milliseconds between datagrams")
			fs.DurationVar(&o.checkWait, "check-wait", connect.DefaultCheckWait, "how long each --check waits for the port to answer")
			fs.DurationVar(&o.refresh, "refresh", 0, "knock again every `DURATION` until interrupted")
			fs.IntVar(&o.refreshMin, "refreshtime", 0, "knock again every `MINUTES` until interrupted (the reference client's flag)")
			fs.IntVar(&o.uses, "uses", 0, "the gateway accepts `N` knocks per time step for this key (hypd's uses; default: the profile's, else 1)")
			fs.BoolVar(&o.verbose, "v", false, "report each step on stderr")
			return func(ctx context.Context, args []string) error { return runKnock(ctx, env, o, args) }
		},
	}
}

func runKnock(ctx context.Context, env *Env, o knockOptions, args []string) error {
	arg, err := oneTarget(args)
	if err != nil {
		return err
	}
	switch {
	case o.gap < 0:
		return usageError("--gap: must not be negative, got %v", o.gap)
	case o.maxJitterMS < 0:
		return usageError("--maxjitter: must not be negative, got %d", o.maxJitterMS)
	case o.checkWait <= 0:
		return usageError("--check-wait: must be positive, got %v", o.checkWait)
	case o.refresh < 0 || o.refreshMin < 0:
		return usageError("--refresh/--refreshtime: must not be negative")
	case o.refresh > 0 && o.refreshMin > 0:
		return usageError("give --refresh or --refreshtime, not both")
	}
	every := o.refresh
	if o.refreshMin > 0 {
		every = time.Duration(o.refreshMin) * time.Minute
	}
	p, err := connectTarget(env, arg, o.target)
	if err != nil {
		return err
	}
	// A knock launches nothing and keeps nothing alive: --refresh is the
	// CLI's own loop, so each round is one knock-then-check.
	p.Command, p.KeepAlive, p.Gap = nil, 0, o.gap
	if o.uses != 0 {
		p.Uses = o.uses
	}
	if err := p.Validate(); err != nil {
		return usageError("%w", err)
	}
	c := env.connector(o.checkWait)
	nk := &connect.NetKnocker{Listen: env.listen(), Resolver: env.Resolver, MaxJitter: time.Duration(o.maxJitterMS) * time.Millisecond}
	c.Knocker = nk
	if o.verbose {
		c.Knocker = verboseKnocker{NetKnocker: nk, w: env.Stderr}
	}

	for first := true; ; first = false {
		if !first {
			// A refresh renews the grant: it knocks while the gateway still
			// accepts one, rather than finding the port open and leaving it.
			c.PreCheck = 0
		}
		err := knockOnce(ctx, env, o, c, p)
		if every == 0 {
			return err
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if first && exitCode(err) == ExitUsage {
				return err // an unknown host will not get better by waiting
			}
			fmt.Fprintf(env.Stderr, "hyp knock: %s; trying again in %v\n", cmdline.OneLine(err.Error()), every)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil // interrupted: the normal end of a refresh loop
		case <-t.C:
		}
	}
}

// knockOnce is one knock-then-check through the connect flow, the one the
// tray and the helper use. It prints one line on stderr (every step with
// -v), so a person sees it worked and scripts' stdout stays empty.
func knockOnce(ctx context.Context, env *Env, o knockOptions, c *connect.Connector, p profiles.Profile) error {
	err := c.KnockOnly(ctx, p, func(s connect.Step) {
		if s.Kind == connect.Connected || (o.verbose && s.Kind != connect.Failed) {
			fmt.Fprintf(env.Stderr, "hyp: %s\n", s.Message)
		}
	})
	if err == nil {
		return nil
	}
	var re *knock.ResolveError
	if errors.As(err, &re) {
		return usageError("%w", err)
	}
	return &ExitError{Code: ExitFail, Err: err}
}

// verboseKnocker says what each knock sent (hyp knock -v): the address, the time step and the
// ports in order, as knockd's and fwknop's clients do, so a knock can be matched with a capture
// or the gateway's log. It resolves as the NetKnocker does.
type verboseKnocker struct {
	*connect.NetKnocker
	w io.Writer
}

func (v verboseKnocker) Knock(ctx context.Context, p profiles.Profile, at time.Time, counter uint32) (knock.Result, error) {
	res, err := v.NetKnocker.Knock(ctx, p, at, counter)
	if err == nil {
		fmt.Fprintf(v.w, "hyp: sent to %s: window %d ports %v\n", res.Target, res.Window, res.Ports)
	}
	return res, err
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hideyourports/hyp/internal/cmdline"
	"net/netip"
	"time"

	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
)

// Defaults of hyp knock.
const (
	defaultGap       = 10 * time.Millisecond // keeps datagrams in order on paths that reorder back-to-back packets
	defaultCheckWait = 3 * time.Second
	checkRetryEvery  = 250 * time.Millisecond
	maxCheckDial     = time.Second // one dial; a gateway that has not opened yet drops the SYN
)

type knockOptions struct {
	target      targetFlags
	gap         time.Duration
	maxJitterMS int
	checkWait   time.Duration
	refresh     time.Duration
	refreshMin  int
	verbose     bool
}

func knockCommand() Command {
	return Command{
		Name:    "knock",
		Args:    "[flags] TARGET",
		Summary: "send a knock (and optionally wait for the service to open)",
		Help: `Sends TARGET's knock sequence for the current time step: one UDP datagram
per port, in order, from one socket. TARGET is a hyp:// URI, "-" to read
the URI from stdin, or a host name or address with --secret FILE.

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
			fs.DurationVar(&o.checkWait, "check-wait", defaultCheckWait, "how long --check retries before giving up")
			fs.DurationVar(&o.refresh, "refresh", 0, "knock again every `DURATION` until interrupted")
			fs.IntVar(&o.refreshMin, "refreshtime", 0, "knock again every `MINUTES` until interrupted (the reference client's flag)")
			fs.BoolVar(&o.verbose, "v", false, "report each knock on stderr")
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
	p, warnings, err := resolveTarget(env, arg, o.target)
	if err != nil {
		return err
	}
	printWarnings(env, warnings)

	k := &knock.Knocker{
		Sender: &knock.Sender{
			Gap:       o.gap,
			MaxJitter: time.Duration(o.maxJitterMS) * time.Millisecond,
			Listen:    env.listen(),
			Resolver:  env.Resolver,
			Payload:   knock.PayloadFor(p.Params.Scheme),
		},
		Now: env.Now,
	}
	c := &knock.Checker{Dial: env.Dial}

	for first := true; ; first = false {
		err := knockOnce(ctx, env, o, k, c, p)
		if every == 0 {
			return err
		}
		if err != nil {
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

func knockOnce(ctx context.Context, env *Env, o knockOptions, k *knock.Knocker, c *knock.Checker, p profile.Profile) error {
	res, err := k.Knock(ctx, p, 0)
	if err != nil {
		return fmt.Errorf("knocking %s: %w", p.Host, err)
	}
	if o.verbose {
		fmt.Fprintf(env.Stderr, "hyp: knocked %s (%s) scheme %s window %d ports %v\n", p.Host, res.Target, p.Params.Scheme, res.Window, res.Ports)
	}
	if p.CheckPort == 0 {
		// One line on stderr, so a person sees it worked and scripts' stdout stays empty.
		if !o.verbose {
			fmt.Fprintf(env.Stderr, "hyp: knocked %s (%s), %d datagrams\n", p.Host, res.Target, len(res.Ports))
		}
		return nil
	}
	if err := waitForService(ctx, c, res.Target, p.CheckPort, o.checkWait); err != nil {
		return &ExitError{Code: ExitFail, Err: err}
	}
	fmt.Fprintf(env.Stderr, "hyp: knocked %s (%s); tcp/%d answered\n", p.Host, res.Target, p.CheckPort)
	return nil
}

// waitForService dials until the port answers or wait is over. It dials the
// address that was knocked, not the host name: the gateway opens the service
// for that source-destination pair, and a fresh lookup might pick another
// address family.
func waitForService(ctx context.Context, c *knock.Checker, target netip.Addr, port uint16, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var last error
	for {
		dial := *c
		dial.Timeout = maxCheckDial
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < dial.Timeout {
			dial.Timeout = time.Until(dl)
		}
		if dial.Timeout <= 0 {
			break
		}
		err := dial.Check(ctx, target.String(), port)
		if err == nil {
			return nil
		}
		last = err
		t := time.NewTimer(checkRetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
			continue
		}
		break
	}
	if last == nil {
		last = errors.New("no time to dial")
	}
	return fmt.Errorf("knocked %s but tcp/%d did not answer within %v: %w", target, port, wait, last)
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hideyourports/hyp/internal/cmdline"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
)

func connectCommand() Command {
	return Command{
		Name:    "connect",
		Args:    "[flags] TARGET [-- VPN COMMAND...]",
		Summary: "knock, wait for the service, launch the VPN, keep it alive",
		Argv:    true,
		Help: `Knock & Connect: knocks TARGET (a saved profile, a hyp:// URI, "-", or a
host with --secret FILE); if it has a check port, waits until that answers
(knocking once more with the next time step if it does not); then runs the
profile's VPN command (or the one after "--") and re-knocks every keep-alive
interval while the command runs. A profile with sites (hyp site add) is
knocked site by site, in order, each with its own realm, and the first that
opens is used (a site without a check port counts as open once knocked);
--site NAME knocks that site only. A check port that answers from here before
the first knock needs no knock; a keep-alive with no knock left in the time
step is fine while the check port answers. Interrupting hyp stops the command with
SIGTERM. Each step is printed as it happens.

Exit status: 0 connected (or interrupted); 1 the gateway did not open, or
the VPN command failed; 2 bad input.`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var (
				tf        targetFlags
				checkWait time.Duration
				keepAlive time.Duration
				knockOnly bool
				uses      int
				site      string
			)
			tf.register(fs, true)
			fs.DurationVar(&checkWait, "check-wait", connect.DefaultCheckWait, "how long each check waits for the port to answer")
			fs.DurationVar(&keepAlive, "keepalive", 0, "re-knock every `DURATION` while connected (default: the profile's)")
			fs.BoolVar(&knockOnly, "knock-only", false, "knock and check, but launch nothing and do not keep alive")
			fs.StringVar(&site, "site", "", "knock only the profile's site `NAME` (default: its sites in order, the first that opens)")
			fs.IntVar(&uses, "uses", 0, "the gateway accepts `N` knocks per time step for this key (hypd's uses; default: the profile's, else 1)")
			return func(ctx context.Context, args []string) error {
				pos, argv := splitArgv(args)
				arg, err := oneTarget(pos)
				if err != nil {
					return err
				}
				if checkWait <= 0 || keepAlive < 0 {
					return usageError("--check-wait must be positive and --keepalive not negative")
				}
				p, err := connectTarget(env, arg, tf)
				if err != nil {
					return err
				}
				if p, err = applySite(p, site); err != nil {
					return err
				}
				if argv != nil {
					p.Command = argv
				}
				if keepAlive > 0 {
					p.KeepAlive = keepAlive
				}
				if err := p.Validate(); err != nil {
					return usageError("%w", err)
				}
				if uses != 0 {
					p.Uses = uses
				}
				c := env.connector(checkWait)
				c.Launcher = env.Launcher
				if c.Launcher == nil {
					c.Launcher = &connect.ExecLauncher{Stdout: env.Stdout, Stderr: env.Stderr}
				}
				progress := func(s connect.Step) {
					fmt.Fprintf(env.Stdout, "%s %-10s %s\n", s.At.Format("15:04:05"), s.Kind, s.Text())
				}
				run := c.Run
				if knockOnly {
					run = c.KnockOnly
				}
				err = run(ctx, p, progress)
				if errors.Is(err, context.Canceled) && ctx.Err() != nil {
					return nil // interrupted: the normal end of a connection
				}
				return err
			}
		},
	}
}

// connectTarget is resolveTarget keeping the saved profile's client settings
// (command, keep-alive, gap), which a URI does not carry.
func connectTarget(env *Env, arg string, tf targetFlags) (profiles.Profile, error) {
	if arg != "-" && !profile.IsURI(arg) && tf.secretFile == "" {
		p, found, err := env.lookupSaved(arg)
		if err != nil {
			return profiles.Profile{}, profileError(arg, err)
		}
		if found {
			cp, err := applyTargetFlags(env, p.Profile, tf, false)
			if err != nil {
				return profiles.Profile{}, err
			}
			p.Profile = cp
			return p, nil
		}
	}
	cp, warnings, err := resolveTarget(env, arg, tf)
	if err != nil {
		return profiles.Profile{}, err
	}
	printWarnings(env, warnings)
	name := cp.Name
	if name == "" || profiles.ValidateName(name) != nil {
		name = "connect"
	}
	return profiles.FromURI(name, cp), nil
}

// connector is the connect flow on this Env's network, clock and knock
// state; checkWait bounds each check. It asks a check port whether it
// answers before knocking: a person who runs hyp knock --check or hyp
// connect wants the service reachable, and a knock spent on an open grant
// is one the next knock in this time step lacks.
func (e *Env) connector(checkWait time.Duration) *connect.Connector {
	return &connect.Connector{
		Knocker:   &connect.NetKnocker{Listen: e.Listen, Resolver: e.Resolver},
		Checker:   &knock.Checker{Dial: e.Dial},
		Clock:     envClock{e},
		State:     e.KnockState,
		CheckWait: checkWait,
		PreCheck:  connect.DefaultPreCheck,
	}
}

// envClock is the real clock with the Env's notion of now.
type envClock struct{ env *Env }

func (c envClock) Now() time.Time { return c.env.now() }

func (envClock) After(d time.Duration) (<-chan time.Time, func()) {
	return connect.RealClock{}.After(d)
}

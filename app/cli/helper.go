package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/user"
	"path/filepath"
	"runtime"

	"github.com/hideyourports/hyp/app/command"
	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper"
	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/internal/cmdline"
)

const helperHelp = `The helper is a background service (systemd unit hyp-helper.service on
Linux, Windows service hyp-helper) that keeps the gateways of its profiles
open with keep-alive knocks, with nobody logged in, and runs their VPN
commands. It cannot read your keyring, so it keeps its own root-only copy of
each profile and key (/etc/hyp/helper on Linux, %ProgramData%\hyp\helper on
Windows), made by 'hyp helper add NAME' as root or administrator.`

// helperFlags are shared by the helper verbs.
type helperFlags struct {
	dir  string
	name string
}

func (h *helperFlags) register(fs *flag.FlagSet, env *Env, withName bool) {
	fs.StringVar(&h.dir, "dir", env.HelperDir, "the helper's store `DIR` (default "+helper.DefaultDir()+")")
	if withName {
		fs.StringVar(&h.name, "name", helper.ServiceName, "service `NAME`")
	}
}

func (h helperFlags) config() helper.Config { return helper.Config{Name: h.name, Dir: h.dir} }

func helperCommands() []Command {
	cmds := []Command{}
	for _, v := range []struct{ verb, summary string }{
		{"install", "install the helper service (starts at boot; run as root/administrator)"},
		{"uninstall", "remove the helper service (its store is kept)"},
		{"start", "start the helper service"},
		{"stop", "stop the helper service"},
		{"restart", "restart the helper service (after helper add/remove)"},
	} {
		cmds = append(cmds, Command{
			Name:    "helper " + v.verb,
			Args:    "[--dir DIR] [--name NAME]",
			Summary: v.summary,
			Help:    helperHelp,
			Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
				var h helperFlags
				h.register(fs, env, true)
				return func(_ context.Context, args []string) error {
					if len(args) != 0 {
						return usageError("takes no arguments")
					}
					note := func(s string) { fmt.Fprintf(env.Stderr, "hyp helper: note: %s\n", s) }
					if err := helper.Control(h.config(), v.verb, note); err != nil {
						return err
					}
					fmt.Fprintf(env.Stdout, "hyp helper: %s: done\n", v.verb)
					if v.verb == "install" {
						fmt.Fprintf(env.Stdout, "next: 'hyp helper add NAME' for each always-on profile, then 'hyp helper start'\n")
					}
					return nil
				}
			},
		})
	}
	cmds = append(cmds, helperStatusCommand(), helperAddCommand(), helperRemoveCommand(), helperListCommand(), helperRunCommand())
	return append(cmds, helperIPCCommands()...)
}

func helperStatusCommand() Command {
	return Command{
		Name:    "helper status",
		Args:    "[--name NAME]",
		Summary: "say whether the helper service runs (exit 0 running, 1 not, 3 not installed)",
		Help:    helperHelp,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var h helperFlags
			h.register(fs, env, true)
			return func(_ context.Context, args []string) error {
				if len(args) != 0 {
					return usageError("takes no arguments")
				}
				st, err := helper.Status(h.config())
				if errors.Is(err, helper.ErrNotInstalled) {
					fmt.Fprintf(env.Stdout, "%s: not installed\n", h.name)
					return &ExitError{Code: 3, Err: errors.New("the helper service is not installed (hyp helper install)")}
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "%s: %s\n", h.name, st.Text)
				if !st.Running {
					return &ExitError{Code: ExitFail, Err: errors.New("the helper service is not running")}
				}
				return nil
			}
		},
	}
}

func helperAddCommand() Command {
	return Command{
		Name:    "helper add",
		Args:    "[--force] [--dir DIR] NAME [URI|-]",
		Summary: "copy a profile and its key into the helper's store (as root or administrator)",
		Help: helperHelp + `

Without URI the profile and key come from your profile store (under sudo,
from SUDO_USER's config directory). Root cannot read your desktop keyring,
so for a profile whose key is there, pipe the URI in and the settings
(command, keep-alive) still come from your profile:
  hyp profile export NAME | sudo hyp helper add NAME -
Restart the helper afterwards (hyp helper restart).`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var h helperFlags
			h.register(fs, env, false)
			force := fs.Bool("force", false, "replace the helper's copy of the profile")
			sock := socketFlag(fs, env)
			return func(ctx context.Context, args []string) error {
				if len(args) == 0 || len(args) > 2 {
					return usageError("want NAME [URI|-]")
				}
				name := args[0]
				if err := profiles.ValidateName(name); err != nil {
					return usageError("%w", err)
				}
				p, err := helperSource(env, name, args[1:])
				if err != nil {
					return err
				}
				msg, err := handOverOrStore(ctx, env, h.dir, *sock, p, *force)
				if err != nil {
					return err
				}
				fmt.Fprintln(env.Stdout, msg)
				return nil
			}
		},
	}
}

// helperSource finds what helper add copies: the user's saved profile, with
// the key from the URI argument when there is one.
func helperSource(env *Env, name string, uriArg []string) (profiles.Profile, error) {
	s, err := userStore(env)
	if err != nil {
		return profiles.Profile{}, err
	}
	if len(uriArg) == 1 {
		uri := uriArg[0]
		if uri == "-" {
			if uri, err = readStdin(env); err != nil {
				return profiles.Profile{}, err
			}
		}
		cp, warnings, err := profile.Parse(uri)
		if err != nil {
			return profiles.Profile{}, usageError("URI: %w", err)
		}
		printWarnings(env, warnings)
		p := profiles.FromURI(name, cp)
		if saved, err := s.Settings(name); err == nil {
			p.Gap, p.KeepAlive, p.Command = saved.Gap, saved.KeepAlive, saved.Command
			if p.CheckPort == 0 {
				p.CheckPort = saved.CheckPort
			}
		} else if !errors.Is(err, profiles.ErrNotFound) {
			return profiles.Profile{}, err
		}
		return p, nil
	}
	p, err := s.Get(name)
	switch {
	case errors.Is(err, profiles.ErrNotFound):
		return profiles.Profile{}, usageError("no profile %q in %s", name, s.Path())
	case errors.Is(err, profiles.ErrNoKeyring) || errors.As(err, new(*profiles.KeyringError)):
		return profiles.Profile{}, usageError("the key of %s is in a keyring this process cannot read (%v): pipe it in instead: %s", name, err, asAdmin(fmt.Sprintf("hyp profile export %s | %%shyp helper add %s -", name, name)))
	}
	return p, err
}

// userStore is the store of the user who ran sudo, if any: root's own config
// directory is not where that user's profiles are.
func userStore(env *Env) (*profiles.Store, error) {
	if env.Profiles != nil || runtime.GOOS == "windows" {
		return env.store()
	}
	if name := os.Getenv("SUDO_USER"); name != "" && name != "root" && os.Geteuid() == 0 {
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("finding SUDO_USER %q: %w", name, err)
		}
		return profiles.Open(profiles.Options{Dir: filepath.Join(u.HomeDir, ".config", "hyp")})
	}
	if uid := pkexecUser(); uid != "" && uid != "0" {
		u, err := user.LookupId(uid)
		if err != nil {
			return nil, fmt.Errorf("finding PKEXEC_UID %s: %w", uid, err)
		}
		return profiles.Open(profiles.Options{Dir: filepath.Join(u.HomeDir, ".config", "hyp")})
	}
	return env.store()
}

func helperRemoveCommand() Command {
	return Command{
		Name:    "helper remove",
		Args:    "[--dir DIR] NAME",
		Summary: "delete a profile from the helper's store (as root or administrator)",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var h helperFlags
			h.register(fs, env, false)
			return func(_ context.Context, args []string) error {
				name, err := oneName(args)
				if err != nil {
					return err
				}
				if err := (helper.Store{Dir: h.dir}).Remove(name); err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "removed %s from the helper; run 'hyp helper restart' to stop using it\n", name)
				return nil
			}
		},
	}
}

func helperListCommand() Command {
	return Command{
		Name:    "helper list",
		Args:    "[--dir DIR]",
		Summary: "list the helper's profiles (as root or administrator; keys are not shown)",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var h helperFlags
			h.register(fs, env, false)
			return func(_ context.Context, args []string) error {
				if len(args) != 0 {
					return usageError("takes no arguments")
				}
				all, err := (helper.Store{Dir: h.dir}).List()
				if err != nil {
					return err
				}
				for _, p := range all {
					ka := p.KeepAlive
					if ka <= 0 {
						ka = helper.DefaultKeepAlive
					}
					fmt.Fprintf(env.Stdout, "%s\t%s\tkey %s\tkeepalive %v\tcommand %s\n", p.Name, p.Host, p.Key.ID(), ka, dash(command.Join(p.Command)))
				}
				return nil
			}
		},
	}
}

func helperRunCommand() Command {
	return Command{
		Name:    "helper run",
		Args:    "[--dir DIR] [--service]",
		Summary: "run the helper in the foreground (what the service executes)",
		Help: `Runs the helper until interrupted, or until it fails (an empty or insecure
store), then exits non-zero with the reason. --service is on the installed
service's command line: on Windows it runs the helper under the service
control manager and logs to helper.log in the store directory.`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var h helperFlags
			h.register(fs, env, true)
			sock := socketFlag(fs, env)
			asService := fs.Bool(helper.ServiceFlag, false, "run as the installed service (the service manager started this process)")
			return func(ctx context.Context, args []string) error {
				if len(args) != 0 {
					return usageError("takes no arguments")
				}
				return runHelper(ctx, env, h, *sock, *asService)
			}
		},
	}
}

func runHelper(ctx context.Context, env *Env, h helperFlags, sock string, asService bool) error {
	runner := &helper.Runner{Store: helper.Store{Dir: h.dir}, Connector: &connect.Connector{
		Knocker: &connect.NetKnocker{Listen: env.Listen, Resolver: env.Resolver},
		Checker: &knock.Checker{Dial: env.Dial},
		Clock:   envClock{env},
	}}
	// Under systemd, stderr is the journal; journald adds the timestamps.
	logTo, flags := env.Stderr, 0
	if asService && runtime.GOOS == "windows" {
		// A Windows service has no console.
		// Without a log the service still runs: failing before it reports to the service
		// manager would only show as a start that timed out.
		if f, err := helper.OpenServiceLog(h.config()); err == nil {
			defer f.Close()
			logTo, flags = f, log.LstdFlags
		}
	}
	runner.Logf = log.New(logTo, "hyp-helper: ", flags).Printf
	if sock != "" {
		// Without its channel the helper still keeps its profiles alive;
		// only the tray and 'hyp helper live' cannot see it.
		ln, err := helperipc.Listen(helperipc.Config{Address: sock})
		if err != nil {
			runner.Logf("no local channel: %v", err)
		} else {
			runner.IPC = ln
		}
	}
	return helper.Run(ctx, h.config(), runner, asService)
}

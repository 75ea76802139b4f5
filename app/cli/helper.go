package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hideyourports/hyp/app/command"
	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper"
	"github.com/hideyourports/hyp/app/helper/elevate"
	"github.com/hideyourports/hyp/app/helper/keepalive"
	helperstore "github.com/hideyourports/hyp/app/helper/store"
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
	fs.StringVar(&h.dir, "dir", env.HelperDir, "the helper's store `DIR` (default "+helperstore.DefaultDir()+")")
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
		Args:    "[--force] [--yes] [--no-command] [--dir DIR] NAME [URI|-] [-- COMMAND...]",
		Argv:    true,
		Summary: "copy a profile and its key into the helper's store (as root or administrator)",
		Help: helperHelp + `

Without URI the profile and key come from your profile store (under sudo or
pkexec, from that user's config directory, read with that user's rights, so
a secret_file only root can read is not read). Root cannot read your desktop
keyring, so for a profile whose key is there, pipe the URI in and the
settings (command, keep-alive) still come from your profile:
  hyp profile export NAME | sudo hyp helper add NAME -
The helper runs the profile's VPN command as root. Under sudo, helper add
shows that command and asks before it stores anything (on the terminal, or
--yes); under pkexec, which has no terminal, the command must be the one
after "--" (the polkit dialog shows the command line), or --no-command.
Restart the helper afterwards (hyp helper restart).`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var h helperFlags
			h.register(fs, env, false)
			force := fs.Bool("force", false, "replace the helper's copy of the profile")
			yes := fs.Bool("yes", false, "do not ask before storing a command that root will run (sudo)")
			noCommand := fs.Bool("no-command", false, "store the profile without its VPN command (keep-alive knocks only)")
			sock := socketFlag(fs, env)
			return func(ctx context.Context, args []string) error {
				pos, argv := splitArgv(args)
				if len(pos) == 0 || len(pos) > 2 {
					return usageError("want NAME [URI|-] [-- COMMAND...]")
				}
				if *noCommand && len(argv) > 0 {
					return usageError("--no-command and a command after \"--\" contradict each other")
				}
				name := pos[0]
				if err := profiles.ValidateName(name); err != nil {
					return usageError("%w", err)
				}
				inv, err := invokingUser()
				if err != nil {
					return err
				}
				p, err := helperSource(env, inv, name, pos[1:])
				if err != nil {
					return err
				}
				if err := settleCommand(env, inv, &p, argv, *noCommand, *yes); err != nil {
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

// invoker is the user on whose behalf root runs (sudo, pkexec).
type invoker struct {
	name     string
	via      string // "sudo" or "pkexec"
	uid, gid int
	groups   []int
	home     string
}

// invokingUser is the user who ran sudo or pkexec, or nil when hyp runs as
// itself (root's own profiles, or no elevation at all). Only root looks:
// SUDO_USER and PKEXEC_UID mean nothing to anyone else.
func invokingUser() (*invoker, error) {
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var via string
	var err error
	switch name, uid := os.Getenv("SUDO_USER"), pkexecUser(); {
	case name != "" && name != "root":
		via = "sudo"
		if u, err = user.Lookup(name); err != nil {
			return nil, fmt.Errorf("finding SUDO_USER %q: %w", name, err)
		}
	case uid != "" && uid != "0":
		via = "pkexec"
		if u, err = user.LookupId(uid); err != nil {
			return nil, fmt.Errorf("finding PKEXEC_UID %s: %w", uid, err)
		}
	default:
		return nil, nil
	}
	inv := &invoker{name: u.Username, via: via, home: u.HomeDir}
	if inv.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("user %s has uid %q", u.Username, u.Uid)
	}
	if inv.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("user %s has gid %q", u.Username, u.Gid)
	}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("finding the groups of %s: %w", u.Username, err)
	}
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			inv.groups = append(inv.groups, n)
		}
	}
	return inv, nil
}

// asInvoker runs fn with the invoking user's file rights, or as this
// process when there is none.
func asInvoker(inv *invoker, fn func() error) error {
	if inv == nil {
		return fn()
	}
	return elevate.AsUser(inv.uid, inv.gid, inv.groups, fn)
}

// helperSource finds what helper add copies: the user's saved profile, with
// the key from the URI argument when there is one. Everything of the user's
// (their profiles.toml, a secret_file it names) is read with the user's
// rights: root must not read for them what they could not.
func helperSource(env *Env, inv *invoker, name string, uriArg []string) (profiles.Profile, error) {
	var cp profile.Profile
	haveURI := len(uriArg) == 1
	if haveURI {
		uri := uriArg[0]
		if uri == "-" {
			var err error
			if uri, err = readStdin(env); err != nil {
				return profiles.Profile{}, err
			}
		}
		var warnings []string
		var err error
		if cp, warnings, err = profile.Parse(uri); err != nil {
			return profiles.Profile{}, usageError("URI: %w", err)
		}
		printWarnings(env, warnings)
	}
	var p profiles.Profile
	err := asInvoker(inv, func() error {
		s, err := userStore(env, inv)
		if err != nil {
			return err
		}
		if haveURI {
			p = profiles.FromURI(name, cp)
			saved, err := s.Settings(name)
			if errors.Is(err, profiles.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			p.Gap, p.KeepAlive, p.Command, p.Uses = saved.Gap, saved.KeepAlive, saved.Command, saved.Uses
			if p.CheckPort == 0 {
				p.CheckPort = saved.CheckPort
			}
			if len(saved.SiteList) > 0 && saved.Host == p.Host {
				// The URI is the saved profile's first site (what the tray hands over): the
				// other sites come with the saved settings.
				p, err = p.WithSites(saved.SiteList)
			}
			return err
		}
		// Windows: the elevated process is the same user with more rights; a secret_file
		// only those rights open is not the user's to hand over (Linux reads as the user).
		// The key is read from the very handle its ACL was checked on (ReadKeyFile), never by
		// name again: a junction swapped in between would have the elevated hyp read another file.
		if saved, serr := s.Settings(name); serr == nil && saved.SecretFile != "" {
			kf, rerr := elevate.ReadKeyFile(saved.SecretFile)
			if err = rerr; err == nil {
				p = saved
				p.Key = kf.Secret
			}
		} else {
			p, err = s.Get(name)
		}
		switch {
		case errors.Is(err, profiles.ErrNotFound):
			return usageError("no profile %q in %s", name, s.Path())
		case errors.Is(err, profiles.ErrNoKeyring) || errors.As(err, new(*profiles.KeyringError)):
			return usageError("the key of %s is in a keyring this process cannot read (%v): pipe it in instead: %s", name, err, asAdmin(fmt.Sprintf("hyp profile export %s | %%shyp helper add %s -", name, name)))
		case err != nil && inv != nil && errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("reading profile %s with the rights of %s, who ran %s: %w", name, inv.name, inv.via, err)
		}
		return err
	})
	return p, err
}

// userStore is the store of the user who ran sudo or pkexec, if any: root's
// own config directory is not where that user's profiles are.
func userStore(env *Env, inv *invoker) (*profiles.Store, error) {
	if env.Profiles != nil || inv == nil {
		return env.store()
	}
	return profiles.Open(profiles.Options{Dir: filepath.Join(inv.home, ".config", "hyp")})
}

// settleCommand decides the command the helper will run as root, shows it,
// and, when root acts for another user, makes sure a person saw it: under
// pkexec it must be the one on the command line (which polkit's dialog
// shows); under sudo the user confirms on the terminal or with --yes.
func settleCommand(env *Env, inv *invoker, p *profiles.Profile, argv []string, noCommand, yes bool) error {
	switch {
	case noCommand:
		p.Command = nil
	case len(argv) > 0:
		p.Command = argv
	case inv != nil && inv.via == "pkexec" && len(p.Command) > 0:
		return usageError("profile %s runs %s, which the helper would run as root, but the polkit dialog did not show it: "+
			"give it on the command line (hyp helper add %s - -- COMMAND...), or add --no-command", p.Name, command.Join(p.Command), p.Name)
	}
	what := "no command: the helper only knocks to keep " + p.Host + " open"
	if len(p.Command) > 0 {
		what = "the helper will run, as root: " + command.Join(p.Command)
	}
	fmt.Fprintf(env.Stderr, "hyp helper add %s (key %s, host %s): %s\n", p.Name, p.Key.ID(), p.Host, what)
	if inv == nil || inv.via == "pkexec" || yes || len(p.Command) == 0 {
		return nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return usageError("%s's profile %s would make root run %s: confirm it with --yes (there is no terminal to ask on)", inv.name, p.Name, command.Join(p.Command))
	}
	defer tty.Close()
	fmt.Fprintf(tty, "Let the helper run this command as root for %s? [y/N] ", inv.name)
	answer, _ := bufio.NewReader(tty).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return &ExitError{Code: ExitFail, Err: errors.New("not confirmed: nothing stored")}
	}
	return nil
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
				if err := (helperstore.Store{Dir: h.dir}).Remove(name); err != nil {
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
		Args:    "[--dir DIR] [--json]",
		Summary: "list the helper's profiles (as root or administrator; keys are not shown)",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var h helperFlags
			h.register(fs, env, false)
			asJSON := fs.Bool("json", false, "print JSON")
			return func(_ context.Context, args []string) error {
				if len(args) != 0 {
					return usageError("takes no arguments")
				}
				all, err := (helperstore.Store{Dir: h.dir}).List()
				if err != nil {
					return err
				}
				keepAlive := func(p profiles.Profile) time.Duration {
					if p.KeepAlive <= 0 {
						return keepalive.DefaultKeepAlive
					}
					return p.KeepAlive
				}
				if *asJSON {
					out := make([]profileJSON, 0, len(all))
					for _, p := range all {
						j := toProfileJSON(p, keepAlive(p))
						j.KeyIn = "" // the helper keeps every key in its own store
						out = append(out, j)
					}
					return writeJSON(env.Stdout, out)
				}
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tHOST\tKEY ID\tKEEPALIVE\tCOMMAND")
				for _, p := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Host, p.Key.ID(), keepAlive(p), dash(command.Join(p.Command)))
				}
				return tw.Flush()
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
	runner := &keepalive.Runner{Store: helperstore.Store{Dir: h.dir}, Connector: &connect.Connector{
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

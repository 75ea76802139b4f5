// Package cli is the hyp command line: a table of subcommands, each with its
// own flags, and the exit-status rules scripts rely on (0 ok, 1 knocked but
// the check failed or the network did, 2 bad input).
//
// It lives outside package main so tests can run it in-process with a fake
// network and clock; app/cmd/hyp only wires up the OS (args, stdio, signals)
// and exits with what Run returns.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
)

// Exit statuses.
const (
	ExitOK    = 0 // done (and the check answered, if one was asked for)
	ExitFail  = 1 // the knock went out but the check never answered, or the network failed
	ExitUsage = 2 // bad input: flags, URI, key file, unknown host
)

// Env is everything Run takes from the outside world. Nil network and clock
// fields mean the real ones.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	Version string // set at link time by the release build; empty reads the build info

	Now      func() time.Time
	Listen   func(ctx context.Context, network, address string) (net.PacketConn, error)
	Resolver knock.Resolver
	Dial     func(ctx context.Context, network, address string) (net.Conn, error)

	// LookupProfile resolves a saved profile name given as TARGET; nil =>
	// the profile store (Profiles). found=false means "not a saved profile",
	// and the argument is tried as a host name.
	LookupProfile func(name string) (p profile.Profile, found bool, err error)

	// Profiles opens the user's profile store; nil => profiles.Open with the
	// user's config directory and OS keyring.
	Profiles func() (*profiles.Store, error)

	// HelperDir is the helper service's store; "" => helper.DefaultDir().
	HelperDir string

	// Launcher starts VPN commands for connect; nil => connect.ExecLauncher
	// with this Env's stdout and stderr.
	Launcher connect.Launcher
}

func (e *Env) store() (*profiles.Store, error) {
	if e.Profiles != nil {
		return e.Profiles()
	}
	return profiles.Open(profiles.Options{})
}

// lookupSaved finds a saved profile by name, through LookupProfile when it
// is set (tests, embedders), else the profile store.
func (e *Env) lookupSaved(name string) (profiles.Profile, bool, error) {
	if profiles.ValidateName(name) != nil {
		return profiles.Profile{}, false, nil // cannot be a saved name: try it as a host
	}
	if e.LookupProfile != nil {
		p, found, err := e.LookupProfile(name)
		return profiles.FromURI(name, p), found, err
	}
	s, err := e.store()
	if err != nil {
		return profiles.Profile{}, false, err
	}
	return s.Lookup(name)
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Command is one entry of the command table.
type Command struct {
	Name    string
	Args    string // synopsis after "hyp NAME"
	Summary string // one line for "hyp help"
	Help    string // paragraphs for "hyp help NAME"
	// Setup declares the command's flags on fs and returns the function that
	// runs it with the positional arguments once the flags are parsed.
	// Help calls Setup too, only to print the flag defaults.
	Setup func(fs *flag.FlagSet, env *Env) func(ctx context.Context, args []string) error
	// Argv marks commands that take a command line after "--": everything
	// after the first "--" is passed on untouched (not parsed as flags),
	// behind a "--" in args.
	Argv bool
}

// Commands is the command table, in the order "hyp help" lists it. New
// subcommands (profile, connect, helper) go here.
func Commands() []Command {
	cmds := []Command{
		sequenceCommand(),
		knockCommand(),
		connectCommand(),
	}
	cmds = append(cmds, profileCommands()...)
	cmds = append(cmds, helperCommands()...)
	return append(cmds, versionCommand(), helpCommand())
}

func lookup(name string) (Command, bool) {
	for _, c := range Commands() {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// isGroup reports whether name is the first word of two-word commands
// ("profile add").
func isGroup(name string) bool { return name == "profile" || name == "helper" }

// resolve finds the command args start with: one word, or a group and a
// verb. n is how many words it took.
func resolve(args []string) (c Command, n int, err error) {
	if c, ok := lookup(args[0]); ok {
		return c, 1, nil
	}
	if isGroup(args[0]) {
		if len(args) > 1 {
			if c, ok := lookup(args[0] + " " + args[1]); ok {
				return c, 2, nil
			}
		}
		return Command{}, 0, fmt.Errorf("want one of: %s (see 'hyp help %s')", strings.Join(verbs(args[0]), ", "), args[0])
	}
	return Command{}, 0, fmt.Errorf("unknown command %q (see 'hyp help')", args[0])
}

// verbs lists the verbs of a group.
func verbs(group string) []string {
	var out []string
	for _, c := range Commands() {
		if v, ok := strings.CutPrefix(c.Name, group+" "); ok {
			out = append(out, group+" "+v)
		}
	}
	return out
}

// ExitError carries an exit status with its reason.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks bad input (exit status 2).
func usageError(format string, a ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// Run runs the command line args (without the program name) and returns the
// exit status. Errors are printed to Stderr as one line.
func Run(ctx context.Context, env *Env, args []string) int {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if len(args) == 0 {
		printOverview(env.Stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	args[0] = name
	cmd, n, err := resolve(args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "hyp: %s\n", err)
		return ExitUsage
	}
	err = cmd.run(ctx, env, args[n:])
	if err == nil {
		return ExitOK
	}
	msg := oneLine(err.Error())
	if errors.Is(err, profiles.ErrNoKeyring) || errors.As(err, new(*profiles.KeyringError)) {
		msg += "; to keep the key in a 0600 file instead: hyp profile add NAME URI --secret-file FILE"
	}
	fmt.Fprintf(env.Stderr, "hyp %s: %s\n", cmd.Name, msg)
	return exitCode(err)
}

func exitCode(err error) int {
	var ee *ExitError
	var re *knock.ResolveError
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &re):
		return ExitUsage
	}
	return ExitFail
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func (c Command) run(ctx context.Context, env *Env, args []string) error {
	fs := c.flagSet()
	runFn := c.Setup(fs, env)
	var argv []string
	if c.Argv {
		if i := slices.Index(args, "--"); i >= 0 {
			args, argv = args[:i], args[i+1:]
		}
	}
	pos, err := parseInterspersed(fs, args)
	if argv != nil {
		pos = append(append(pos, "--"), argv...)
	}
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(env.Stdout, env)
		return nil
	}
	if err != nil {
		return usageError("%v (see 'hyp help %s')", err, c.Name)
	}
	return runFn(ctx, pos)
}

func (c Command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("hyp "+c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Run prints one line; help prints the defaults itself
	return fs
}

// parseInterspersed parses flags wherever they appear, so the reference
// client's "hyp knock HOST --secret FILE" works; the flag package alone
// stops at the first positional argument. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (c Command) printUsage(w io.Writer, env *Env) {
	fmt.Fprintf(w, "Usage: hyp %s %s\n", c.Name, c.Args)
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Help))
	}
	fs := c.flagSet()
	c.Setup(fs, env)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags (-name and --name both work, before or after TARGET):\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func printOverview(w io.Writer) {
	fmt.Fprintf(w, "hyp knocks on a hyp gateway so it opens a service for you.\n\nUsage: hyp COMMAND [flags] [args]\n\nCommands:\n")
	for _, c := range Commands() {
		fmt.Fprintf(w, "  %-17s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun 'hyp help COMMAND' for a command's flags.\n")
}

func helpCommand() Command {
	return Command{
		Name:    "help",
		Args:    "[COMMAND]",
		Summary: "show help for hyp or one command",
		Setup: func(fs *flag.FlagSet, env *Env) func(context.Context, []string) error {
			return func(_ context.Context, args []string) error {
				if len(args) == 0 {
					printOverview(env.Stdout)
					return nil
				}
				if len(args) == 1 && isGroup(args[0]) {
					fmt.Fprintf(env.Stdout, "Usage: hyp %s VERB [flags] [args]\n\nVerbs:\n", args[0])
					for _, v := range verbs(args[0]) {
						c, _ := lookup(v)
						fmt.Fprintf(env.Stdout, "  %-17s %s\n", c.Name, c.Summary)
					}
					return nil
				}
				c, _, err := resolve(args)
				if err != nil {
					return usageError("%v", err)
				}
				c.printUsage(env.Stdout, env)
				return nil
			}
		},
	}
}

func versionCommand() Command {
	return Command{
		Name:    "version",
		Args:    "",
		Summary: "print the version",
		Setup: func(fs *flag.FlagSet, env *Env) func(context.Context, []string) error {
			return func(context.Context, []string) error {
				fmt.Fprintf(env.Stdout, "hyp %s %s %s/%s\n", version(env.Version), runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			}
		},
	}
}

func version(linked string) string {
	if linked != "" {
		return linked
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

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
	"strings"
	"time"

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

	// LookupProfile resolves a saved profile name given as TARGET; nil when
	// the profile store is not wired in. found=false means "not a saved
	// profile", and the argument is tried as a host name.
	LookupProfile func(name string) (p profile.Profile, found bool, err error)
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
}

// Commands is the command table, in the order "hyp help" lists it. New
// subcommands (profile, connect, helper) go here.
func Commands() []Command {
	return []Command{
		sequenceCommand(),
		knockCommand(),
		versionCommand(),
		helpCommand(),
	}
}

func lookup(name string) (Command, bool) {
	for _, c := range Commands() {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
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
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(env.Stderr, "hyp: unknown command %q (see 'hyp help')\n", name)
		return ExitUsage
	}
	err := cmd.run(ctx, env, args[1:])
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "hyp %s: %s\n", cmd.Name, oneLine(err.Error()))
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
	pos, err := parseInterspersed(fs, args)
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
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Summary)
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
				c, ok := lookup(args[0])
				if !ok {
					return usageError("unknown command %q", args[0])
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

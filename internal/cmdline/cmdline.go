// Package cmdline is the command table both hyp and hypd are built from. One description of each
// command — its name, arguments, summary, help and flags — drives dispatch, `help`, `--version`,
// the man page and the bash, zsh and fish completions, so none of them can drift from what the
// program accepts.
//
// The conventions are the ones users of WireGuard, Tailscale and fwknop know: `PROG COMMAND
// [flags] [args]`, flags spelled --name (the flag package also takes -name), flags before or
// after the arguments, `PROG help COMMAND` and `PROG COMMAND -h` alike, `--version`, every error
// one line naming the command, exit status 2 for bad input.
package cmdline

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Exit statuses every command shares.
const (
	ExitOK    = 0
	ExitFail  = 1 // the command ran and failed
	ExitUsage = 2 // bad input: a flag, an argument, a file's content
)

// ExitError carries an exit status with its reason; any other error exits ExitFail.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Usage returns an error that exits ExitUsage.
func Usage(format string, a ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// Runner runs a command with its positional arguments, once its flags are parsed.
type Runner func(ctx context.Context, args []string) error

// Command is one entry of a program's command table. E is what the program hands every command
// (its I/O, clock, network; nil when the table is only read, for help, man or completion).
type Command[E any] struct {
	Name    string // the words after the program's name: "knock", "profile add"
	Args    string // synopsis of the positional arguments: "TARGET", "NAME URI"
	Summary string // one line for the overview
	Help    string // paragraphs for `PROG help NAME` and the man page
	// Setup declares the command's flags on fs and returns what runs it. Help, the man page and
	// the completions call it only to see the flags.
	Setup func(fs *flag.FlagSet, env E) Runner
	// Argv: everything after the first "--" is a command line of its own, passed on untouched
	// behind a "--" in the arguments.
	Argv bool
	// Hidden commands are spellings kept for compatibility: they run, but are not listed.
	Hidden bool
	// BadFlags, if set, sees the usage error of flags that do not parse before it is returned:
	// a command that must act even then does it here (hypd run hides what it knows of, since a
	// typo in a service's command line must not leave a gateway open after a reboot).
	// It gets the arguments as given.
	BadFlags func(ctx context.Context, env E, args []string, err error)
	// Values says what a flag's value (by flag name) or, under "", the positional arguments
	// complete to: "file", "dir", a space-separated list of words, or "@KIND": the words the
	// program's Complete gives for KIND when TAB is pressed (saved profiles, key names). A flag
	// with a value whose placeholder is FILE, PATH or DIR needs no entry.
	Values map[string]string
}

// Program is a command-line program: its table and how to describe it.
type Program[E any] struct {
	Name        string // "hyp"
	Summary     string // one line: what the program is
	Description string // paragraphs for the overview's head and the man page's DESCRIPTION
	// Version returns the line `PROG version` and `PROG --version` print.
	Version  func() string
	Commands []Command[E]
	// Hint, if set, may add advice to the one-line error of a failed command.
	Hint func(err error) string
	// Sample is the environment the command table is read with for the man page and the
	// completions, where no real one is at hand (Setup may read defaults from it).
	Sample E
	// Status, if set, gives the exit status of an error that is not an *ExitError (e.g. an
	// unknown host is bad input); 0 means "decide as usual".
	Status func(err error) int
	// Man holds the man page's section and the troff of its sections after COMMANDS (FILES,
	// EXIT STATUS, SEE ALSO...).
	ManSection int
	ManTail    string
	// Complete, if set, lists the words of a dynamic completion kind (Values "@KIND"); the
	// completion scripts ask for them by running `PROG __complete KIND`. It must be quick and
	// print nothing else: a kind it cannot list now gives no words.
	Complete func(ctx context.Context, env E, kind string) []string
}

// completeCommand is the hidden command the completion scripts run for dynamic words.
const completeCommand = "__complete"

// Run runs the command line args (without the program's name) and returns the exit status.
// Output goes to stdout; errors to stderr, one line each, "PROG COMMAND: reason".
func (p *Program[E]) Run(ctx context.Context, env E, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		p.overview(stderr)
		fmt.Fprintf(stderr, "%s: no command given\n", p.Name)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		args = append([]string{"help"}, args[1:]...)
	case "-version", "--version", "-V":
		args = append([]string{"version"}, args[1:]...)
	}
	switch args[0] {
	case "help":
		return p.help(stdout, stderr, env, args[1:])
	case completeCommand:
		if len(args) == 2 && p.Complete != nil {
			for _, w := range p.Complete(ctx, env, args[1]) {
				fmt.Fprintln(stdout, w)
			}
		}
		return ExitOK
	case "completion":
		if len(args) == 2 && isHelpFlag(args[1]) {
			p.builtinHelp(stdout, "completion")
			return ExitOK
		}
		if len(args) != 2 {
			fmt.Fprintf(stderr, "%s completion: want one shell: %s (e.g. %s completion bash > /etc/bash_completion.d/%s)\n", p.Name, strings.Join(Shells(), ", "), p.Name, p.Name)
			return ExitUsage
		}
		if err := p.WriteCompletion(stdout, args[1]); err != nil {
			fmt.Fprintf(stderr, "%s %v\n", p.Name, err)
			return ExitCode(err)
		}
		return ExitOK
	case "man":
		if len(args) > 1 && isHelpFlag(args[1]) {
			p.builtinHelp(stdout, "man")
			return ExitOK
		}
		if err := p.WriteMan(stdout); err != nil {
			fmt.Fprintf(stderr, "%s man: %v\n", p.Name, err)
			return ExitFail
		}
		return ExitOK
	case "version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "%s version: takes no arguments\n", p.Name)
			return ExitUsage
		}
		fmt.Fprintln(stdout, p.Version())
		return ExitOK
	}
	c, n, err := p.resolve(args)
	if err != nil {
		if g := p.group(args[0]); g != "" && (len(args) == 1 || isHelpFlag(args[1])) {
			// `hypd secret` and `hypd secret -h`: list the group's verbs.
			w, code := stderr, ExitUsage
			if len(args) > 1 {
				w, code = stdout, ExitOK
			}
			p.groupHelp(w, g)
			return code
		}
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return ExitUsage
	}
	err = p.run(ctx, env, c, args[n:], stdout)
	if err == nil {
		return ExitOK
	}
	msg := OneLine(err.Error())
	if p.Hint != nil {
		if h := p.Hint(err); h != "" {
			msg += "; " + h
		}
	}
	fmt.Fprintf(stderr, "%s %s: %s\n", p.Name, c.Name, msg)
	var ee *ExitError
	if p.Status != nil && !errors.As(err, &ee) {
		if code := p.Status(err); code != 0 {
			return code
		}
	}
	return ExitCode(err)
}

// ExitCode is the exit status for an error returned by a command.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFail
}

// OneLine folds a message onto one line.
func OneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// resolve finds the command that args start with, the longest name first; n is how many words
// it took.
func (p *Program[E]) resolve(args []string) (c Command[E], n int, err error) {
	best := -1
	for i, cmd := range p.Commands {
		words := strings.Fields(cmd.Name)
		if len(words) <= len(args) && slices.Equal(words, args[:len(words)]) && (best < 0 || len(words) > n) {
			best, n = i, len(words)
		}
	}
	if best >= 0 {
		return p.Commands[best], n, nil
	}
	if g := p.group(args[0]); g != "" {
		verb := ""
		if len(args) > 1 {
			verb = args[1]
		}
		var full []string
		for _, v := range p.verbs(g) {
			full = append(full, g+" "+v)
		}
		if verb == "" {
			return c, 0, fmt.Errorf("%s needs a verb: %s (see '%s help %s')", g, strings.Join(full, ", "), p.Name, g)
		}
		return c, 0, fmt.Errorf("%s: unknown verb %q; want one of: %s (see '%s help %s')", g, verb, strings.Join(full, ", "), p.Name, g)
	}
	return c, 0, fmt.Errorf("unknown command %q (see '%s help')", args[0], p.Name)
}

// group returns word if it is the first word of some multi-word commands ("profile").
func (p *Program[E]) group(word string) string {
	for _, c := range p.Commands {
		if strings.HasPrefix(c.Name, word+" ") {
			return word
		}
	}
	return ""
}

// verbs lists the second words of a group's commands.
func (p *Program[E]) verbs(group string) []string {
	var out []string
	for _, c := range p.Commands {
		if v, ok := strings.CutPrefix(c.Name, group+" "); ok && !c.Hidden {
			out = append(out, v)
		}
	}
	return out
}

// flagSet returns c's flags, declared with a zero environment unless env is given.
func (c Command[E]) flagSet(env E) (*flag.FlagSet, Runner) {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, on one line, by Run
	fs.Usage = func() {}
	var run Runner
	if c.Setup != nil {
		run = c.Setup(fs, env)
	}
	return fs, run
}

func (p *Program[E]) run(ctx context.Context, env E, c Command[E], args []string, stdout io.Writer) error {
	fs, run := c.flagSet(env)
	var argv []string
	if c.Argv {
		if i := slices.Index(args, "--"); i >= 0 {
			args, argv = args[:i], args[i+1:]
		}
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		p.commandHelp(stdout, c, env)
		return nil
	}
	if err != nil {
		uerr := Usage("%s (see '%s help %s')", flagError(fs, err), p.Name, c.Name)
		if c.BadFlags != nil {
			c.BadFlags(ctx, env, args, uerr)
		}
		return uerr
	}
	if argv != nil {
		pos = append(append(pos, "--"), argv...)
	}
	if run == nil {
		return nil
	}
	return run(ctx, pos)
}

// flagError rewrites the flag package's messages in the --name spelling the help uses, and says
// what a valid value looks like.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	for _, pre := range []string{"flag provided but not defined: -", "flag needs an argument: -", "bad flag syntax: -"} {
		if rest, ok := strings.CutPrefix(msg, pre); ok {
			what := map[string]string{
				"flag provided but not defined: -": "unknown flag --",
				"flag needs an argument: -":        "flag --%s needs a value",
				"bad flag syntax: -":               "bad flag syntax: -",
			}[pre]
			if strings.Contains(what, "%s") {
				return fmt.Sprintf(what, strings.TrimPrefix(rest, "-"))
			}
			return what + strings.TrimPrefix(rest, "-")
		}
	}
	// `invalid value "x" for flag -open: parse error`: name the flag as --open.
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		if v, f, ok := strings.Cut(rest, " for flag -"); ok {
			name, why, _ := strings.Cut(f, ": ")
			why = strings.TrimPrefix(why, "parse error")
			if why == "" {
				why = "not a valid value"
			}
			if fl := fs.Lookup(name); fl != nil {
				switch fmt.Sprintf("%T", fl.Value) {
				case "*flag.durationValue":
					why = "not a duration such as 500ms, 30s or 5m"
				case "*flag.intValue", "*flag.uintValue", "*flag.int64Value", "*flag.uint64Value":
					why = "not a whole number"
				case "*flag.boolValue":
					why = "a switch takes no value, or =true/=false"
				}
			}
			return fmt.Sprintf("--%s %s: %s", name, v, strings.TrimPrefix(why, ": "))
		}
	}
	return msg
}

// parseInterspersed parses flags wherever they appear, so "hyp knock HOST --secret FILE" works;
// the flag package alone stops at the first positional argument. "--" ends the flags.
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

// HiddenFlag starts the usage of a flag that is accepted but not listed: an old spelling kept
// for scripts.
const HiddenFlag = "\x00hidden: "

// Flag is one flag as help, man and completion describe it.
type Flag struct {
	Name    string
	Value   string // placeholder of its value ("FILE", "DURATION"); empty for a switch
	Usage   string
	Default string // shown when it is not the zero value
}

// Flags lists c's flags, declared with env, in the order the flag package sorts them.
func (c Command[E]) Flags(env E) []Flag {
	fs, _ := c.flagSet(env)
	var out []Flag
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, HiddenFlag) {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			name = ""
		} else if name == "" || name == "value" {
			name = "VALUE"
		}
		def := f.DefValue
		switch def {
		case "", "0", "false", "0s", "[]":
			def = ""
		}
		if isWord(name) {
			name = strings.ToUpper(name) // a placeholder; "v2|hyp" or "tcp/PORT" are spelled as given
		}
		out = append(out, Flag{Name: f.Name, Value: name, Usage: usage, Default: def})
	})
	return out
}

// valueKind is how a flag's value (or, for name "", a positional argument) completes.
func (c Command[E]) valueKind(f Flag) string {
	if v, ok := c.Values[f.Name]; ok {
		return v
	}
	switch f.Value {
	case "FILE", "PATH":
		return "file"
	case "DIR", "DIRECTORY":
		return "dir"
	}
	if strings.Contains(f.Value, "|") {
		return strings.ReplaceAll(f.Value, "|", " ") // a placeholder such as v2|hyp lists the choices
	}
	return ""
}

func isWord(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

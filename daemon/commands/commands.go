// Package commands is hypd's command line: it parses the verbs and flags, merges flags over the
// config file, and calls the packages that do the work. main only maps the result to an exit code.
package commands

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
)

// exitError carries an exit status through the call chain; everything else is exit 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad input on the command line: exit 2.
func usageError(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

// env is what a command may touch.
type env struct {
	version        string
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name  string
	args  string
	help  string
	run   func(ctx context.Context, e *env, args []string) error
	extra bool // a spelling kept for compatibility, not listed
}

func commandTable() []command {
	return []command{
		{name: "run", args: "[--config FILE] [--interface IF]... [flags]", help: "run the gateway in the foreground", run: runGateway},
		{name: "check", args: "[--config FILE] [flags]", help: "validate the configuration and the keys, exit non-zero with the reason", run: runCheck},
		{name: "config default", help: "print the commented default configuration file", run: runConfigDefault},
		{name: "secret new", args: "NAME [--keys DIR] [--host HOST] [--services LIST] [--scheme v2|hyp] [--force] [--qr]", help: "make a key for a trusted agent and print its hyp:// profile URI", run: runSecretNew},
		{name: "generate secret", help: "print a new random key (the reference hyp spelling)", run: runGenerateSecret, extra: true},
		{name: "status", args: "[--json] [--socket PATH]", help: "show keys, grants, counters and interfaces of the running hypd", run: runStatus},
		{name: "grants", args: "[--json] [--socket PATH]", help: "list active grants", run: runGrants},
		{name: "revoke-grant", args: "ADDR [--socket PATH]", help: "close every grant of a source address now", run: runRevokeGrant},
		{name: "unprotect", args: "SERVICE [--socket PATH]", help: "stop hiding a service that no key or config names any more", run: runUnprotect},
		{name: "cleanup", args: "[--stop]", help: "delete hypd's nftables table (protected services become reachable); refused while hypd runs", run: runCleanup},
		{name: "version", help: "print the version", run: func(_ context.Context, e *env, _ []string) error {
			fmt.Fprintln(e.stdout, "hypd", e.version)
			return nil
		}},
	}
}

// Run executes hypd with args (without the program name) and returns the exit status. version
// is what `hypd version` prints.
func Run(ctx context.Context, version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if version == "" {
		version = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			version = bi.Main.Version
		}
	}
	e := &env{version: version, stdin: stdin, stdout: stdout, stderr: stderr}
	err := dispatch(ctx, e, args)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "hypd:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func dispatch(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return usageError("no command given")
		}
		return nil
	}
	cmds := commandTable()
	// Two-word verbs ("secret new") first, then one-word ones.
	sort.SliceStable(cmds, func(i, j int) bool {
		return strings.Count(cmds[i].name, " ") > strings.Count(cmds[j].name, " ")
	})
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(ctx, e, args[len(words):])
		}
	}
	if extra := serviceVerb(args[0]); extra != nil {
		return extra(ctx, e, args[1:])
	}
	return usageError("unknown command %q (see hypd help)", strings.Join(args, " "))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "hypd — the hyp gateway: hides services until a valid knock opens them for one address")
	fmt.Fprintln(w, "\nUsage: hypd COMMAND [flags]\n\nCommands:")
	for _, c := range commandTable() {
		if c.extra {
			continue
		}
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.help)
		if c.args != "" {
			fmt.Fprintf(w, "  %-16s   %s %s\n", "", c.name, c.args)
		}
	}
	for _, v := range serviceVerbs() {
		fmt.Fprintf(w, "  %-16s %s\n", v[0], v[1])
	}
	fmt.Fprintln(w, "\n`hypd COMMAND -h` lists a command's flags. `hypd generate secret` is kept for the reference hyp's scripts.")
}

// newLogger logs one line per event, as logfmt, at level (which a reload may change). Under
// systemd (JOURNAL_STREAM names our stderr) the journal stamps each line itself, so the time is
// left out, and each line starts with its syslog priority (<3> error ... <7> debug), which
// journald strips and keeps: `journalctl -u hypd -p warning` shows warnings and errors only.
func newLogger(w io.Writer, level string, lv *slog.LevelVar) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError("log level %q: want debug, info, warn or error", level)
	}
	if lv == nil {
		lv = new(slog.LevelVar)
	}
	lv.Set(l)
	opts := &slog.HandlerOptions{Level: lv}
	if journalStream(w) {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		return slog.New(slog.NewTextHandler(&priorityWriter{w: w}, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// priorityWriter prefixes each log line with its syslog priority for journald, read from the
// line's level= field.
type priorityWriter struct{ w io.Writer }

func (p *priorityWriter) Write(b []byte) (int, error) {
	prio := "<6>"
	switch {
	case bytes.Contains(b, []byte("level=ERROR")):
		prio = "<3>"
	case bytes.Contains(b, []byte("level=WARN")):
		prio = "<4>"
	case bytes.Contains(b, []byte("level=DEBUG")):
		prio = "<7>"
	}
	if _, err := io.WriteString(p.w, prio); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

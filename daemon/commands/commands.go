// Package commands is hypd's command line: it parses the verbs and flags, merges flags over the
// config file, and calls the packages that do the work. main only maps the result to an exit code.
package commands

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// usageError marks bad input on the command line: exit 2.
func usageError(format string, a ...any) error { return cmdline.Usage(format, a...) }

// env is what a command may touch.
type env struct {
	version string
	// defaultConfig is the config file run, check, init and start read when --config is not
	// given (config.DefaultPath; tests point it elsewhere).
	defaultConfig  string
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command = cmdline.Command[*env]

func commandTable() []command {
	cmds := []command{
		{Name: "run", Args: "[--config FILE] [--interface IF]...", Summary: "run the gateway in the foreground (what the service runs)", Help: runHelp,
			Setup: gatewaySetup("run", runGateway), BadFlags: runBadFlags, Values: map[string]string{"interface": "@interfaces"}},
		{Name: "check", Args: "[--config FILE]", Summary: "validate the configuration and the keys as hypd run would; exit non-zero with the reason",
			Setup: gatewaySetup("check", runCheck), Values: map[string]string{"interface": "@interfaces"}},
		{Name: "config default", Summary: "print the commented default configuration file (hypd init writes it)", Setup: noFlags("config default", runConfigDefault)},
		{Name: "secret new", Args: "NAME", Summary: "make a key for a trusted agent and print its hyp:// profile URI", Help: secretNewHelp, Setup: secretNewSetup,
			Values: map[string]string{"": "@keys"}},
		{Name: "generate secret", Summary: "print a new random key (the reference hyp spelling)", Hidden: true, Setup: noFlags("generate secret", runGenerateSecret)},
		{Name: "status", Summary: "show what is protected, keys, grants, counters and interfaces of the running hypd", Setup: statusSetup("status", runStatus)},
		{Name: "grants", Summary: "list the open grants", Setup: statusSetup("grants", runGrants)},
		{Name: "revoke-grant", Args: "ADDR", Summary: "close every grant of a source address now", Setup: statusSetup("revoke-grant", runRevokeGrant),
			Values: map[string]string{"": "@grants"}},
		{Name: "unprotect", Args: "SERVICE", Summary: "stop hiding a service that no key or config names any more", Setup: statusSetup("unprotect", runUnprotect), Values: map[string]string{"": "@services"},
			Help: "A service a key file named stays protected after that file is deleted or stops loading. `hypd status` shows it as kept; this exposes it. Refused while the config or a loaded key still names the service."},
		{Name: "cleanup", Summary: "delete hypd's nftables table (protected services become reachable); refused while hypd runs", Setup: cleanupSetup},
	}
	return append(cmds, serviceCommands()...)
}

// noFlags is the Setup of a command without flags or arguments.
func noFlags(name string, run func(ctx context.Context, e *env) error) func(*flag.FlagSet, *env) cmdline.Runner {
	return func(_ *flag.FlagSet, e *env) cmdline.Runner {
		return func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError("takes no arguments, got %q", args[0])
			}
			return run(ctx, e)
		}
	}
}

func program(version string) *cmdline.Program[*env] {
	return &cmdline.Program[*env]{
		Name:        "hypd",
		Summary:     "the hyp gateway: hides services until a valid knock opens them for one address",
		Description: description,
		Version: func() string {
			return fmt.Sprintf("hypd %s %s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
		Commands:   commandTable(),
		Sample:     &env{version: version, defaultConfig: config.DefaultPath, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard},
		ManSection: 8,
		ManTail:    manTail,
		Complete:   complete,
	}
}

// Run executes hypd with args (without the program name) and returns the exit status. version
// is what `hypd version` prints.
func Run(ctx context.Context, version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	version = cmdline.VersionString(version)
	e := &env{version: version, defaultConfig: config.DefaultPath, stdin: stdin, stdout: stdout, stderr: stderr}
	return program(version).Run(ctx, e, args, stdout, stderr)
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

package commands

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// statusFlags are the flags of the commands that ask the running hypd.
type statusFlags struct {
	json   bool
	socket string
}

// statusSetup is the Setup of the commands that talk to the control socket.
func statusSetup(name string, run func(ctx context.Context, e *env, f statusFlags, args []string) error) func(*flag.FlagSet, *env) cmdline.Runner {
	return func(fs *flag.FlagSet, e *env) cmdline.Runner {
		var f statusFlags
		if name == "status" || name == "grants" {
			fs.BoolVar(&f.json, "json", false, "print JSON")
		}
		fs.StringVar(&f.socket, "socket", control.DefaultSocket, "control socket `PATH`")
		return func(ctx context.Context, args []string) error { return run(ctx, e, f, args) }
	}
}

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usageError("unexpected argument %q", args[0])
	}
	return nil
}

// oneArg returns the single positional argument what names.
func oneArg(args []string, what, example string) (string, error) {
	switch len(args) {
	case 0:
		return "", usageError("give %s, e.g. %s", what, example)
	case 1:
		return args[0], nil
	}
	return "", usageError("give one %s, got %d arguments", what, len(args))
}

func runStatus(ctx context.Context, e *env, f statusFlags, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	asJSON := &f.json
	line := ""
	if !*asJSON {
		line = serviceStateLine(e)
	}
	if line != "" {
		fmt.Fprintln(e.stdout, "service:", line)
	}
	st, err := control.NewClient(f.socket).Status(ctx)
	if err != nil {
		return statusError(err, f.socket)
	}
	st.Normalize()
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "hypd running since %s (%s)\n", st.Started.Local().Format(time.RFC3339), time.Since(st.Started).Round(time.Second))
	ifs := make([]string, 0, len(st.Interfaces))
	for name, mode := range st.Interfaces {
		ifs = append(ifs, name+" ("+mode+" XDP)")
	}
	sort.Strings(ifs)
	fmt.Fprintf(w, "interfaces:\t%s\n", strings.Join(ifs, ", "))
	if st.Realm != "" {
		fmt.Fprintf(w, "realm:\t%q (only v3 keys load; a knock made for another realm opens nothing here)\n", st.Realm)
	}
	if st.ConfigProblem != "" {
		fmt.Fprintf(w, "config:\tthe last reload was refused, running with the previous configuration: %s\n", st.ConfigProblem)
	}
	fmt.Fprintf(w, "\nprotected (%d, stealth %v):\n", len(st.Protected), st.Stealth)
	for _, p := range st.Protected {
		from := strings.Join(p.From, ", ")
		if from == "" {
			from = "kept: nothing names it any more (hypd unprotect " + p.Service + " exposes it)"
		}
		fmt.Fprintf(w, "  %s\t%s\n", p.Service, from)
	}
	fmt.Fprintf(w, "\nkeys (%d):\n", len(st.Keys))
	for _, k := range st.Keys {
		scheme := k.Scheme
		if k.Realm != nil {
			scheme += " realm " + strconv.Quote(*k.Realm)
		}
		fmt.Fprintf(w, "  %s\t%s\tid %s\t%s\topen %s\n", k.Name, scheme, k.ID, strings.Join(k.Services, ","), k.Open)
	}
	if len(st.KeyProblems) > 0 {
		fmt.Fprintf(w, "\nkey files not loaded (%d; their services stay hidden):\n", len(st.KeyProblems))
		for _, p := range st.KeyProblems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	printGrants(w, st.Grants)
	d := st.Detector
	fmt.Fprintf(w, "\ndetector:\tseen %d\tcompletions %d\tringbuf drops %d\tstale records %d\treplays unreported %d\n",
		d.Seen, d.Completions, d.RingbufDrops, d.StaleRecords, d.ReplaysUnreported)
	if p := d.Progress; p != nil {
		fmt.Fprintf(w, "progress:\thits %d\tresets %d\tfirst-port overflows %d\n", p.Hits, p.Resets, p.Overflows)
	} else {
		// They follow sources through the sequences, which would tell the ports to anyone watching.
		fmt.Fprintf(w, "progress:\thits, resets and first-port overflows are shown to root only\n")
	}
	s := st.Server
	fmt.Fprintf(w, "decisions:\thandled %d\tgrants %d\treplays refused %d\tstale refused %d\tunknown key %d\terrors %d\n",
		s.HandledRecords, s.Grants, s.ReplaysRefused, s.StaleRefused, s.UnknownKey, s.GrantErrors)
	fmt.Fprintf(w, "sequences:\tloaded %d\tleft out %d\ttable repairs %d\n", s.SequencesLoaded, s.SequencesLeftOut, st.TableRepairs)
	if s.SequencesLeftOut > 0 {
		fmt.Fprintf(w, "warning:\t%d sequences did not fit the detector; restart hypd to size it for the keys it has now\n", s.SequencesLeftOut)
	}
	return w.Flush()
}

func printGrants(w *tabwriter.Writer, gs []control.Grant) {
	fmt.Fprintf(w, "\ngrants (%d):\n", len(gs))
	if len(gs) > 0 {
		fmt.Fprintf(w, "  SOURCE\tSERVICE\tKEY\tLEFT\n")
	}
	for _, g := range gs {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", g.Source, g.Service, g.Key, time.Duration(g.SecondsLeft)*time.Second)
	}
}

func runGrants(ctx context.Context, e *env, f statusFlags, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	st, err := control.NewClient(f.socket).Status(ctx)
	if err != nil {
		return err
	}
	if f.json {
		st.Normalize()
		return json.NewEncoder(e.stdout).Encode(st.Grants)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	printGrants(w, st.Grants)
	return w.Flush()
}

func runRevokeGrant(ctx context.Context, e *env, f statusFlags, args []string) error {
	addrArg, err := oneArg(args, "the source ADDR", "hypd revoke-grant 203.0.113.7")
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(addrArg)
	if err != nil {
		return usageError("%q is not an IP address such as 203.0.113.7 or 2001:db8::7", addrArg)
	}
	n, err := control.NewClient(f.socket).Revoke(ctx, addr)
	if err != nil {
		return err
	}
	if n == 0 {
		return &cmdline.ExitError{Code: 1, Err: fmt.Errorf("%s holds no grant; nothing was revoked", addr)}
	}
	fmt.Fprintf(e.stdout, "revoked %d grant(s) of %s\n", n, addr)
	return nil
}

func runUnprotect(ctx context.Context, e *env, f statusFlags, args []string) error {
	svcArg, err := oneArg(args, "the SERVICE", "hypd unprotect tcp/8443")
	if err != nil {
		return err
	}
	svc, err := protected.ParseService(svcArg)
	if err != nil {
		return usageError("%v", err)
	}
	c := control.NewClient(f.socket)
	if err := c.Unprotect(ctx, svc.String()); err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err == nil && st.Stealth {
		// Stealth drops every port that is neither public nor granted: giving up the knock does
		// not make the service answer.
		fmt.Fprintf(e.stdout, "%s is no longer protected by a knock, but stealth still drops new connections to it: list it in public in the config (then hypd reload) to let everyone reach it\n", svc)
		return nil
	}
	fmt.Fprintf(e.stdout, "%s is no longer protected: it answers everyone again unless another firewall hides it\n", svc)
	return nil
}

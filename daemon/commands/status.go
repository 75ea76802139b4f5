package commands

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/firewall"
)

func statusFlags(name string, e *env) (*flag.FlagSet, *bool, *string) {
	fs := flag.NewFlagSet("hypd "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	sock := fs.String("socket", control.DefaultSocket, "control socket `path`")
	return fs, asJSON, sock
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs, asJSON, sock := statusFlags("status", e)
	if err := fs.Parse(args); err != nil {
		return usageErrorWrap(err)
	}
	line := ""
	if !*asJSON {
		line = serviceStateLine(e)
	}
	if line != "" {
		fmt.Fprintln(e.stdout, "service:", line)
	}
	st, err := control.NewClient(*sock).Status(ctx)
	if err != nil {
		return err
	}
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
		fmt.Fprintf(w, "  %s\t%s\tid %s\t%s\topen %s\n", k.Name, k.Scheme, k.ID, strings.Join(k.Services, ","), k.Open)
	}
	if len(st.KeyProblems) > 0 {
		fmt.Fprintf(w, "\nkey files not loaded (%d; their services stay hidden):\n", len(st.KeyProblems))
		for _, p := range st.KeyProblems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	printGrants(w, st.Grants)
	d := st.Detector
	fmt.Fprintf(w, "\ndetector:\tseen %d\thits %d\tresets %d\tcompletions %d\toverflows %d\tringbuf drops %d\tstale records %d\n",
		d.Seen, d.Hits, d.Resets, d.Completions, d.Overflows, d.RingbufDrops, d.StaleRecords)
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
	for _, g := range gs {
		fmt.Fprintf(w, "  %s\t%s\tkey %s\t%ds left\n", g.Source, g.Service, g.Key, g.SecondsLeft)
	}
}

func runGrants(ctx context.Context, e *env, args []string) error {
	fs, asJSON, sock := statusFlags("grants", e)
	if err := fs.Parse(args); err != nil {
		return usageErrorWrap(err)
	}
	st, err := control.NewClient(*sock).Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(st.Grants)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	printGrants(w, st.Grants)
	return w.Flush()
}

func runRevokeGrant(ctx context.Context, e *env, args []string) error {
	fs, _, sock := statusFlags("revoke-grant", e)
	addrArg, rest := splitName(args)
	if err := fs.Parse(rest); err != nil {
		return usageErrorWrap(err)
	}
	if addrArg == "" && fs.NArg() > 0 {
		addrArg = fs.Arg(0)
	}
	addr, err := netip.ParseAddr(addrArg)
	if err != nil {
		return usageError("revoke-grant: %q is not an IP address", addrArg)
	}
	n, err := control.NewClient(*sock).Revoke(ctx, addr)
	if err != nil {
		return err
	}
	if n == 0 {
		return &exitError{code: 1, err: fmt.Errorf("revoke-grant: %s holds no grant; nothing was revoked", addr)}
	}
	fmt.Fprintf(e.stdout, "revoked %d grant(s) of %s\n", n, addr)
	return nil
}

func runUnprotect(ctx context.Context, e *env, args []string) error {
	fs, _, sock := statusFlags("unprotect", e)
	svcArg, rest := splitName(args)
	if err := fs.Parse(rest); err != nil {
		return usageErrorWrap(err)
	}
	if svcArg == "" && fs.NArg() > 0 {
		svcArg = fs.Arg(0)
	}
	svc, err := firewall.ParseService(svcArg)
	if err != nil {
		return usageError("unprotect: %v", err)
	}
	if err := control.NewClient(*sock).Unprotect(ctx, svc.String()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s is no longer protected: it answers everyone again unless another firewall hides it\n", svc)
	return nil
}

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
	fmt.Fprintf(w, "\nkeys (%d):\n", len(st.Keys))
	for _, k := range st.Keys {
		fmt.Fprintf(w, "  %s\t%s\tid %s\t%s\topen %s\n", k.Name, k.Scheme, k.ID, strings.Join(k.Services, ","), k.Open)
	}
	printGrants(w, st.Grants)
	d := st.Detector
	fmt.Fprintf(w, "\ndetector:\tseen %d\thits %d\tresets %d\tcompletions %d\toverflows %d\tringbuf drops %d\n",
		d.Seen, d.Hits, d.Resets, d.Completions, d.Overflows, d.RingbufDrops)
	s := st.Server
	fmt.Fprintf(w, "decisions:\tgrants %d\treplays refused %d\tstale refused %d\tunknown key %d\terrors %d\tsequences loaded %d\n",
		s.Grants, s.ReplaysRefused, s.StaleRefused, s.UnknownKey, s.GrantErrors, s.SequencesLoaded)
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
	if err := control.NewClient(*sock).Revoke(ctx, addr); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked every grant of %s\n", addr)
	return nil
}

package commands

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/hideyourports/hyp/app/qrterm"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/firewall"
)

// runSecretNew makes a key file for one trusted agent and prints the profile URI the agent's
// client needs. The URI is the one place a secret is printed, because handing it over is the
// point of the command; it goes to stdout only, never to the log.
func runSecretNew(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("hypd secret new", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := config.Default()
	keys := fs.String("keys", def.KeysDir, "key `directory`")
	host := fs.String("host", "", "the gateway's public name or address, as clients will reach it")
	services := fs.String("services", "", "services this key opens (default: the daemon's), e.g. `tcp/22`")
	scheme := fs.String("scheme", "v2", "knock scheme: v2, or hyp for reference hyp clients")
	force := fs.Bool("force", false, "overwrite an existing key file of that name")
	showQR := fs.Bool("qr", false, "also draw the profile URI as a QR code")
	name, rest := splitName(args)
	if err := fs.Parse(rest); err != nil {
		return usageErrorWrap(err)
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		return usageError("secret new: give the agent's NAME, e.g. hypd secret new laptop --host gw.example.net")
	}
	sch, err := sequence.ParseScheme(*scheme)
	if err != nil {
		return usageError("--scheme: %v", err)
	}
	key, err := psk.Generate()
	if err != nil {
		return err
	}
	k := config.Key{Name: name, Secret: key, Params: sequence.Defaults()}
	k.Params.Scheme = sch
	if *services != "" {
		if k.Services, err = firewall.ParseServices(*services); err != nil {
			return usageError("--services: %v", err)
		}
	}
	path, err := config.WriteKeyFile(*keys, name, k, *force)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	fmt.Fprintf(e.stderr, "hypd: wrote %s (0600); a running hypd picks it up by itself\n", path)
	// An IPv6 address may come bracketed, as in a URI; the profile adds the brackets itself.
	if h, ok := strings.CutPrefix(*host, "["); ok {
		if h, ok = strings.CutSuffix(h, "]"); ok {
			*host = h
		}
	}
	if *host == "" {
		fmt.Fprintln(e.stderr, "hypd: no --host given: the URI below names localhost; clients need the gateway's public name")
		*host = "localhost"
	}
	p := profile.Profile{Name: name, Host: *host, Key: key, Params: k.Params}
	if len(k.Services) > 0 && k.Services[0].Proto == "tcp" {
		p.CheckPort = k.Services[0].Port
	}
	fmt.Fprintln(e.stdout, p.URI())
	if *showQR {
		return qrterm.Write(e.stdout, p.URI())
	}
	return nil
}

// splitName takes a leading positional NAME so that flags may follow it (hypd secret new NAME --force).
func splitName(args []string) (string, []string) {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return args[0], args[1:]
	}
	return "", args
}

// runGenerateSecret prints a new key, as `hyp generate secret` of the reference client does, so
// scripts that redirect it into a key file keep working.
func runGenerateSecret(_ context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usageError("generate secret takes no arguments; redirect the output into a key file")
	}
	k, err := psk.Generate()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, k.Encode())
	return err
}

package commands

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/internal/cmdline"
	"github.com/hideyourports/hyp/internal/qrterm"
)

// runSecretNew makes a key file for one trusted agent and prints the profile URI the agent's
// client needs. The URI is the one place a secret is printed, because handing it over is the
// point of the command; it goes to stdout only, never to the log.
func secretNewSetup(fs *flag.FlagSet, e *env) cmdline.Runner {
	var o secretOptions
	fs.StringVar(&o.keys, "keys", "", "key `DIR` (default: keys_dir of the config, else "+config.DefaultKeysDir+")")
	fs.StringVar(&o.config, "config", "", "hypd's config `FILE`, for its keys_dir and services (default: "+config.DefaultPath+" if it exists)")
	fs.StringVar(&o.host, "host", "", "the gateway's public `HOST` name or address, as clients will reach it (required)")
	fs.StringVar(&o.services, "services", "", "services this key opens (default: the config's), e.g. `tcp/22`; the first TCP one is the URI's check=")
	fs.UintVar(&o.check, "check", 0, "TCP `PORT` the client probes after a knock (the URI's check=; default: the first TCP service)")
	fs.StringVar(&o.scheme, "scheme", "v3", "knock scheme: `v3|v2|hyp` (v2 for clients without v3, hyp for reference hyp clients; neither at a gateway with a realm)")
	fs.StringVar(&o.realm, "realm", "", "the key's `REALM`, written into its key file (default: realm of the config, written nowhere, so the key follows the gateway's)")
	fs.BoolVar(&o.noCheck, "no-check", false, "write a URI without check=, for a key that opens only UDP services (WireGuard's: nothing a client could probe)")
	fs.BoolVar(&o.force, "force", false, "overwrite an existing key file of that name")
	fs.BoolVar(&o.qr, "qr", false, "also draw the profile URI as a QR code")
	return func(ctx context.Context, args []string) error {
		name, err := oneArg(args, "the agent's NAME", "hypd secret new laptop --host gw.example.net")
		if err != nil {
			return err
		}
		return runSecretNew(e, name, o)
	}
}

type secretOptions struct {
	keys, config, host, services, scheme, realm string
	force, qr, noCheck                          bool
	check                                       uint
}

func runSecretNew(e *env, name string, o secretOptions) error {
	keys, host, services, scheme, force, showQR := &o.keys, &o.host, &o.services, &o.scheme, &o.force, &o.qr
	// A URI naming localhost, the old fallback, knocks the client's own
	// machine: nobody wants that, so the host is required. (hypd.toml has no
	// setting for the gateway's public name yet; when it has, it goes here.)
	if *host == "" {
		return usageError("--host is missing: give the gateway's public name or address as clients reach it, e.g. hypd secret new %s --host gw.example.net", name)
	}
	if err := validHost(*host); err != nil {
		return usageError("--host %q: %v", *host, err)
	}
	cfg, err := secretConfig(o.config)
	if err != nil {
		return &cmdline.ExitError{Code: 2, Err: err}
	}
	if *keys == "" {
		*keys = cfg.KeysDir
	}
	sch, err := sequence.ParseScheme(*scheme)
	if err != nil {
		return usageError("--scheme: %v", err)
	}
	key, err := psk.Generate()
	if err != nil {
		return err
	}
	k := config.Key{Name: name, Secret: key}
	// uriParams are what the client knocks: the key's, with the realm it has at this gateway.
	uriParams, err := secretParams(&k, sch, o.realm, cfg)
	if err != nil {
		return err
	}
	if *services != "" {
		if k.Services, err = protected.ParseServices(*services); err != nil {
			return usageError("--services: %v", err)
		}
	}
	// The URI's check= is what lets a client tell a knock that opened from
	// one that did not (and an open gateway from a closed one without
	// knocking): the key's first TCP service, else the config's.
	checkPort := firstTCP(k.Services)
	if checkPort == 0 && len(k.Services) == 0 {
		checkPort = firstTCP(cfg.Services)
	}
	if o.check > 65535 {
		return usageError("--check %d: not a TCP port (1..65535)", o.check)
	}
	if o.check != 0 {
		checkPort = uint16(o.check)
	}
	// Without check= a client cannot tell a knock that opened from one that did not, so it is
	// written always, unless the admin says there is nothing to probe.
	if o.noCheck {
		if o.check != 0 {
			return usageError("--check and --no-check contradict each other: give one")
		}
		checkPort = 0
	} else if checkPort == 0 {
		return usageError("no TCP service known for key %s, so its URI would have no check= and clients could not tell whether a knock opened anything: give --check PORT, --services with a tcp/PORT, or services in the config (or --no-check for a key that opens only UDP services)", name)
	}
	path, err := config.WriteKeyFile(*keys, name, k, *force)
	if err != nil {
		return &cmdline.ExitError{Code: 2, Err: err}
	}
	fmt.Fprintf(e.stderr, "wrote %s (0600); a running hypd picks it up by itself\n", path)
	// An IPv6 address may come bracketed, as in a URI; the profile adds the brackets itself.
	if h, ok := strings.CutPrefix(*host, "["); ok {
		if h, ok = strings.CutSuffix(h, "]"); ok {
			*host = h
		}
	}
	// URI writes the key's check (kc=) beside the secret, so a client
	// refuses a key that was mistyped on the way.
	p := profile.Profile{Name: name, Host: *host, Key: key, Params: uriParams, CheckPort: checkPort}
	fmt.Fprintln(e.stdout, p.URI())
	if *showQR {
		return qrterm.Write(e.stdout, p.URI())
	}
	return nil
}

// secretConfig is the configuration secret new reads keys_dir and services
// from: --config, else the installed config if there is one, else the
// defaults.
func secretConfig(path string) (config.Config, error) {
	if path == "" {
		if _, err := os.Stat(config.DefaultPath); err != nil {
			return config.Default(), nil
		}
		path = config.DefaultPath
	}
	return loadConfigFile(path)
}

// firstTCP is the port of the first TCP service in list, 0 if none.
func firstTCP(list []protected.Service) uint16 {
	for _, s := range list {
		if s.Proto == "tcp" {
			return s.Port
		}
	}
	return 0
}

// runGenerateSecret prints a new key, as `hyp generate secret` of the reference client does, so
// scripts that redirect it into a key file keep working.
func runGenerateSecret(_ context.Context, e *env) error {
	k, err := psk.Generate()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, k.Encode())
	return err
}

// validHost checks a --host before it goes into a URI the client would refuse: a DNS name, an
// IPv4 address or an IPv6 address (bracketed or not), and nothing else — no port, no path, no
// query or fragment (where the secret would follow it), no spaces.
func validHost(h string) error {
	if h == "" {
		return nil
	}
	if inner, ok := strings.CutPrefix(h, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); ok && err == nil && a.Is6() {
			return nil
		}
		return errors.New("want an IPv6 address inside the brackets, such as [2001:db8::1]")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if _, _, err := net.SplitHostPort(h); err == nil {
		return errors.New("a host name or address without a port (clients knock on ports of their own)")
	}
	if len(h) > 253 {
		return errors.New("longer than a DNS name can be")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a host name such as gw.example.net or an IP address")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("character %q is not allowed in a host name; want a name such as gw.example.net or an IP address", c)
			}
		}
	}
	return nil
}

// secretParams sets k's knock parameters for scheme sch and the --realm flag, and returns the
// ones its URI carries. Without --realm a v3 key file names no realm, so it takes the realm of
// whichever gateway loads it (a key set rolled out to a fleet); the URI carries the config's.
// A gateway with a realm loads only v3 keys, so v2 and hyp are refused there before a file is
// written.
func secretParams(k *config.Key, sch sequence.Scheme, realm string, cfg config.Config) (sequence.Params, error) {
	if sch != sequence.V3 && realm == "" && cfg.Realm != "" {
		return sequence.Params{}, usageError("--scheme %s: this gateway has realm %q and loads only v3 keys; leave --scheme out (v3)", sch, cfg.Realm)
	}
	f := sequence.Fields{Scheme: &sch}
	if realm != "" {
		f.Realm = &realm
	}
	p, _, err := f.Apply(sequence.Defaults())
	if fe, ok := errors.AsType[*sequence.FieldError](err); ok {
		return sequence.Params{}, usageError("--%s: %s", fe.Field, fe.Msg)
	} else if err != nil {
		return sequence.Params{}, usageError("%v", err)
	}
	k.Params = p
	if sch == sequence.V3 && realm == "" {
		return sequence.V3Defaults(cfg.Realm), nil
	}
	return k.Params, nil
}

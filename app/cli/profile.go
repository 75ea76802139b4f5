package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hideyourports/hyp/app/command"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/keyfile"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/cmdline"
	"github.com/hideyourports/hyp/internal/qrterm"
)

func profileCommands() []Command {
	return []Command{profileAddCommand(), profileListCommand(), profileShowCommand(), profileRemoveCommand(), profileExportCommand()}
}

// profileSettings are the flags that set what a URI does not carry.
type profileSettings struct {
	gap       time.Duration
	keepAlive time.Duration
	uses      int
	alwaysOn  bool
}

func (s *profileSettings) register(fs *flag.FlagSet) {
	fs.DurationVar(&s.gap, "gap", profiles.DefaultGap, "wait `DURATION` between knock datagrams")
	fs.DurationVar(&s.keepAlive, "keepalive", 0, "re-knock every `DURATION` while connected (0 = never)")
	fs.BoolVar(&s.alwaysOn, "always-on", false, "connect at start (tray) and keep alive (helper service)")
	fs.IntVar(&s.uses, "uses", 0, "the gateway accepts `N` knocks per time step for this key (hypd's uses; default 1)")
}

func profileAddCommand() Command {
	return Command{
		Name:    "profile add",
		Args:    "[flags] NAME URI|- [-- VPN COMMAND...]",
		Summary: "save a gateway (the key goes to the OS keyring)",
		Argv:    true,
		Help: `Saves a gateway as profile NAME. The settings go to profiles.toml in the
user config directory; the key goes to the OS keyring (Secret Service,
Windows Credential Manager, macOS keychain), never to that file.

URI is a hyp:// URI, or "-" to read it from stdin (keeps the key out of the
shell history). Instead of a URI, give --host HOST and --secret FILE (a
reference hyp key file; the key is copied into the keyring) or
--secret-file FILE alone (the key stays in that file).

--secret-file FILE keeps the key in FILE (mode 0600) instead of the keyring:
for machines without a keyring. With a URI, hyp writes the key there.

Everything after "--" is the VPN command that "hyp connect NAME" launches,
as separate words, never through a shell:
  hyp profile add office - --keepalive 5m -- wg-quick up office

An existing profile is replaced only with --force.`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var (
				st                     profileSettings
				force                  bool
				host, scheme, check    string
				secretFrom, secretFile string
			)
			st.register(fs)
			fs.BoolVar(&force, "force", false, "replace an existing profile of the same name")
			fs.StringVar(&host, "host", "", "gateway `HOST` (instead of a URI, with --secret or --secret-file)")
			fs.StringVar(&scheme, "scheme", "", "knock scheme `v2|hyp` (default: the URI's, else v2)")
			fs.StringVar(&check, "check", "", "`tcp/PORT` that answers after a good knock")
			fs.StringVar(&secretFrom, "secret", "", "read the key from `FILE` (base32; reference hyp key files work)")
			fs.StringVar(&secretFile, "secret-file", "", "keep the key in `FILE` (0600) instead of the OS keyring")
			return func(ctx context.Context, args []string) error {
				pos, argv := splitArgv(args)
				return runProfileAdd(env, pos, argv, st, force, host, scheme, check, secretFrom, secretFile)
			}
		},
	}
}

// splitArgv separates the positional arguments from a command after "--".
func splitArgv(args []string) (pos, argv []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

func runProfileAdd(env *Env, pos, argv []string, st profileSettings, force bool, host, scheme, check, secretFrom, secretFile string) error {
	if len(pos) == 0 {
		return usageError("missing NAME")
	}
	if len(pos) > 2 {
		return usageError("want NAME and one URI, got %d arguments (a VPN command goes after --)", len(pos))
	}
	name := pos[0]
	if err := profiles.ValidateName(name); err != nil {
		return usageError("%w", err)
	}
	var (
		cp       profile.Profile
		warnings []string
	)
	switch {
	case len(pos) == 2:
		if host != "" {
			return usageError("give a URI or --host, not both")
		}
		uri := pos[1]
		from := "URI"
		if uri == "-" {
			b, err := readStdin(env)
			if err != nil {
				return err
			}
			uri, from = b, "stdin"
		}
		if !profile.IsURI(uri) {
			return usageError("%s: want a hyp:// URI", from)
		}
		var err error
		if cp, warnings, err = profile.Parse(uri); err != nil {
			return usageError("%s: %w", from, err)
		}
	case host != "":
		h, err := profile.ParseHost(host)
		if err != nil {
			return usageError("--host: %w", err)
		}
		cp = profile.Profile{Host: h, Params: sequence.Defaults()}
	default:
		return usageError("missing URI: give a hyp:// URI, \"-\" for stdin, or --host HOST with --secret FILE")
	}
	printWarnings(env, warnings)
	var kf *keyfile.File
	if secretFrom != "" {
		var err error
		if kf, err = readKeyFile(secretFrom); err != nil {
			return err
		}
		if host != "" {
			if err := applyKeyFile(&cp, kf, secretFrom); err != nil {
				return err
			}
		}
	}
	params, err := applyParamFlags(cp.Params, scheme, "")
	if err != nil {
		return err
	}
	cp.Params = params
	if check != "" {
		var err error
		if cp.CheckPort, err = profile.ParseCheck(check); err != nil {
			return usageError("--check: %w", err)
		}
	}
	if kf != nil {
		k := kf.Secret
		if !cp.Key.IsZero() && !cp.Key.Equal(k) {
			return usageError("--secret: the URI already holds a different key")
		}
		cp.Key = k
	}
	p := profiles.FromURI(name, cp)
	p.Gap, p.KeepAlive, p.AlwaysOn, p.Command, p.Uses = st.gap, st.keepAlive, st.alwaysOn, argv, st.uses
	if secretFile != "" {
		abs, err := filepath.Abs(secretFile)
		if err != nil {
			return usageError("--secret-file: %w", err)
		}
		p.SecretFile = abs
		if err := prepareSecretFile(env, &p, force); err != nil {
			return err
		}
	}
	if p.Key.IsZero() {
		return usageError("no key for %s: give a URI, --secret FILE or an existing --secret-file FILE", name)
	}
	if err := p.Validate(); err != nil {
		return usageError("%w", err)
	}
	s, err := env.store()
	if err != nil {
		return err
	}
	if err := s.Put(p, force); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usageError("%w", err)
		}
		return err
	}
	where := "the OS keyring"
	if p.SecretFile != "" {
		where = p.SecretFile
	}
	fmt.Fprintf(env.Stdout, "saved profile %s (%s, key %s in %s) to %s\n", name, p.Host, p.Key.ID(), where, s.Path())
	return nil
}

// prepareSecretFile reconciles --secret-file with the key from the URI or
// --secret: an existing file is used as it is when no key was given, must
// hold the same key otherwise (unless --force), and is warned about when
// others can read it.
func prepareSecretFile(env *Env, p *profiles.Profile, force bool) error {
	existing, err := (profiles.FileSecret{Path: p.SecretFile}).Get(p.Name)
	switch {
	case errors.Is(err, profiles.ErrNoSecret):
		if p.Key.IsZero() {
			return usageError("--secret-file %s does not exist and there is no key to write to it (give a URI or --secret FILE)", p.SecretFile)
		}
		return nil
	case err != nil:
		return usageError("--secret-file: %w", err)
	case p.Key.IsZero():
		p.Key = existing
	case !p.Key.Equal(existing) && !force:
		return usageError("--secret-file %s holds a different key (replace it with --force)", p.SecretFile)
	}
	warnLooseKeyFile(env, p.SecretFile)
	return nil
}

// warnLooseKeyFile warns when a key file can be read by others: by its mode bits, or on
// Windows (where Go reports mode 0666 for every file) by its ACL.
func warnLooseKeyFile(env *Env, path string) {
	if who, err := profiles.ReadableByOthers(path); err == nil && who != "" {
		fmt.Fprintf(env.Stderr, "hyp: warning: %s can be read by %s; %s\n", path, who, profiles.LooseKeyFix(path))
	}
}

func readStdin(env *Env) (string, error) {
	b, err := io.ReadAll(io.LimitReader(env.Stdin, maxStdin))
	if err != nil {
		return "", usageError("reading the URI from stdin: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func profileListCommand() Command {
	return Command{
		Name:    "profile list",
		Args:    "",
		Summary: "list saved profiles (no keys are read)",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(_ context.Context, args []string) error {
				if len(args) != 0 {
					return usageError("takes no arguments")
				}
				s, err := env.store()
				if err != nil {
					return err
				}
				all, err := s.List()
				if err != nil {
					return err
				}
				if *asJSON {
					out := make([]profileJSON, 0, len(all))
					for _, p := range all {
						out = append(out, toProfileJSON(p, p.KeepAlive))
					}
					return writeJSON(env.Stdout, out)
				}
				if len(all) == 0 {
					fmt.Fprintf(env.Stderr, "hyp: no profiles in %s (add one with 'hyp profile add NAME URI')\n", s.Path())
					return nil
				}
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tHOST\tSCHEME\tCHECK\tKEEPALIVE\tALWAYS-ON\tKEY IN\tCOMMAND")
				for _, p := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Host, p.Params.Scheme, checkText(p.CheckPort),
						durText(p.KeepAlive), yesNo(p.AlwaysOn), secretWhere(p), dash(command.Join(p.Command)))
				}
				return tw.Flush()
			}
		},
	}
}

func checkText(port uint16) string {
	if port == 0 {
		return "-"
	}
	return fmt.Sprintf("tcp/%d", port)
}

func durText(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func secretWhere(p profiles.Profile) string {
	if p.SecretFile != "" {
		return p.SecretFile
	}
	return "keyring"
}

func oneName(args []string) (string, error) {
	switch len(args) {
	case 1:
		return args[0], nil
	case 0:
		return "", usageError("missing NAME")
	}
	return "", usageError("want one NAME, got %d arguments", len(args))
}

// savedSettings reads a profile without its key (no keyring access), as bad
// input when the name is unknown, and returns the store it came from.
func savedSettings(env *Env, name string) (*profiles.Store, profiles.Profile, error) {
	s, err := env.store()
	if err != nil {
		return nil, profiles.Profile{}, err
	}
	p, err := s.Settings(name)
	if errors.Is(err, profiles.ErrNotFound) {
		return nil, profiles.Profile{}, usageError("no profile %q in %s (see 'hyp profile list')", name, s.Path())
	}
	return s, p, err
}

// savedProfile reads a profile with its key, as bad input when the name is
// unknown.
func savedProfile(env *Env, name string) (profiles.Profile, error) {
	s, err := env.store()
	if err != nil {
		return profiles.Profile{}, err
	}
	p, err := s.Get(name)
	if errors.Is(err, profiles.ErrNotFound) {
		return profiles.Profile{}, usageError("no profile %q in %s (see 'hyp profile list')", name, s.Path())
	}
	return p, err
}

func profileShowCommand() Command {
	return Command{
		Name:    "profile show",
		Args:    "NAME",
		Summary: "show a profile (the key redacted)",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			return func(_ context.Context, args []string) error {
				name, err := oneName(args)
				if err != nil {
					return err
				}
				s, p, err := savedSettings(env, name)
				if err != nil {
					return err
				}
				full, keyErr := s.Get(name)
				w := env.Stdout
				fmt.Fprintf(w, "name:       %s\n", p.Name)
				fmt.Fprintf(w, "uri:        %s\n", p.Profile.String())
				fmt.Fprintf(w, "host:       %s\n", p.Host)
				fmt.Fprintf(w, "scheme:     %s (length %d, step %ds, ports %d-%d)\n", p.Params.Scheme, p.Params.Length, p.Params.Step, p.Params.Low, p.Params.High)
				fmt.Fprintf(w, "check:      %s\n", checkText(p.CheckPort))
				showSites(w, p)
				fmt.Fprintf(w, "gap:        %v\n", p.Gap)
				fmt.Fprintf(w, "keepalive:  %s\n", durText(p.KeepAlive))
				fmt.Fprintf(w, "uses:       %d per time step\n", max(p.Uses, 1))
				fmt.Fprintf(w, "always-on:  %s\n", yesNo(p.AlwaysOn))
				fmt.Fprintf(w, "command:    %s\n", dash(command.Join(p.Command)))
				where := fmt.Sprintf("OS keyring (service %q, user %q)", profiles.DefaultService, p.Name)
				if p.SecretFile != "" {
					where = "file " + p.SecretFile
				}
				if keyErr != nil {
					fmt.Fprintf(w, "key:        in %s, but it cannot be read\n", where)
					return keyErr
				}
				fmt.Fprintf(w, "key:        id %s, %d bytes, in %s\n", full.Key.ID(), full.Key.Len(), where)
				return nil
			}
		},
	}
}

func profileRemoveCommand() Command {
	return Command{
		Name:    "profile remove",
		Args:    "NAME",
		Summary: "delete a profile and its keyring entry",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			return func(_ context.Context, args []string) error {
				name, err := oneName(args)
				if err != nil {
					return err
				}
				s, err := env.store()
				if err != nil {
					return err
				}
				kept, err := s.Remove(name)
				if errors.Is(err, profiles.ErrNotFound) {
					return usageError("no profile %q in %s", name, s.Path())
				}
				if err != nil {
					return err
				}
				if kept != "" {
					fmt.Fprintf(env.Stdout, "removed profile %s; its key file %s was left in place (delete it yourself if nothing else uses it)\n", name, kept)
				} else {
					fmt.Fprintf(env.Stdout, "removed profile %s and its key from the OS keyring\n", name)
				}
				return nil
			}
		},
	}
}

func profileExportCommand() Command {
	return Command{
		Name:    "profile export",
		Args:    "[--qr] NAME",
		Summary: "print a profile's hyp:// URI, key included (or a QR code)",
		Help: `Prints the profile's hyp:// URI with its key, for another device:
anyone who sees it can open the gateway. --qr draws it as a QR code for a
phone's camera instead.`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			qr := fs.Bool("qr", false, "draw the URI as a QR code in the terminal")
			return func(_ context.Context, args []string) error {
				name, err := oneName(args)
				if err != nil {
					return err
				}
				p, err := savedProfile(env, name)
				if err != nil {
					return err
				}
				cp := p.Profile
				cp.Name = p.Name
				fmt.Fprintf(env.Stderr, "hyp: this URI holds the key of %s: anyone who sees it can open the gateway\n", name)
				if *qr {
					return qrterm.Write(env.Stdout, cp.URI())
				}
				_, err = fmt.Fprintln(env.Stdout, cp.URI())
				return err
			}
		},
	}
}

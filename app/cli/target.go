package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/keyfile"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
)

// targetFlags are the flags that say what to knock besides TARGET itself;
// they override what the URI or saved profile says.
type targetFlags struct {
	secretFile string
	scheme     string
	realm      string
	check      string
}

func (t *targetFlags) register(fs *flag.FlagSet, withCheck bool) {
	fs.StringVar(&t.secretFile, "secret", "", "read the key from `FILE` (base32, as the reference client's; or the gateway's NAME.toml)")
	fs.StringVar(&t.scheme, "scheme", "", "knock scheme `v2|v3|hyp` (default: the URI's, else v2)")
	fs.StringVar(&t.realm, "realm", "", "the gateway's `REALM`, for scheme v3 (default: the URI's)")
	if withCheck {
		fs.StringVar(&t.check, "check", "", "after knocking, wait until `tcp/PORT` answers (exit 1 if it never does)")
	}
}

// maxStdin bounds what "-" reads: a URI with the longest key is under 2 KiB.
const maxStdin = 64 << 10

// resolveTarget turns TARGET into a profile. TARGET is, in order of trial:
//   - "-": a hyp:// URI read from stdin;
//   - a hyp:// URI;
//   - a saved profile name (env.LookupProfile, else the profile store),
//     unless --secret is given;
//   - a host name or address, which needs --secret FILE.
//
// Flags then override the profile's scheme, key and check port. Warnings
// (ignored URI parameters) are returned for the caller to print.
func resolveTarget(env *Env, arg string, f targetFlags) (profile.Profile, []string, error) {
	p, warnings, byHost, err := baseProfile(env, arg, f)
	if err != nil {
		return profile.Profile{}, nil, err
	}
	p, err = applyTargetFlags(env, p, f, byHost)
	return p, warnings, err
}

// applyTargetFlags lets --secret, --scheme and --check override a profile.
// byHost says TARGET was a host name: then a TOML key file's knock settings
// and check port apply too (a URI or profile has its own).
func applyTargetFlags(env *Env, p profile.Profile, f targetFlags, byHost bool) (profile.Profile, error) {
	var err error
	if f.secretFile != "" {
		kf, err := readKeyFile(f.secretFile)
		if err != nil {
			return profile.Profile{}, err
		}
		p.Key = kf.Secret
		if byHost {
			if err := applyKeyFile(&p, kf, f.secretFile); err != nil {
				return profile.Profile{}, err
			}
		}
		warnLooseKeyFile(env, f.secretFile)
	}
	if p.Params, err = applyParamFlags(p.Params, f.scheme, f.realm); err != nil {
		return profile.Profile{}, err
	}
	if f.check != "" {
		if p.CheckPort, err = profile.ParseCheck(f.check); err != nil {
			return profile.Profile{}, usageError("--check: %w", err)
		}
	}
	if p.Key.IsZero() {
		return profile.Profile{}, usageError("no key for %s: give --secret FILE", p.Host)
	}
	return p, nil
}

// applyParamFlags sets --scheme and --realm ("" for not given) over def
// with sequence.Fields.Apply, the rules of URIs and key files: a scheme other
// than def's starts from its defaults, a realm needs scheme v3.
func applyParamFlags(def sequence.Params, scheme, realm string) (sequence.Params, error) {
	var f sequence.Fields
	if scheme != "" {
		f.Scheme = new(sequence.Scheme(scheme))
	}
	if realm != "" {
		f.Realm = &realm
	}
	p, _, err := f.Apply(def)
	if fe, ok := errors.AsType[*sequence.FieldError](err); ok {
		return def, usageError("--%s: %s", fe.Field, fe.Msg)
	} else if err != nil {
		return def, usageError("%w", err)
	}
	return p, nil
}

// readKeyFile reads --secret FILE: a plain base32 key (the reference
// client's) or the gateway's TOML key file (what hypd secret new writes),
// with core/keyfile, the reader hypd uses.
func readKeyFile(path string) (*keyfile.File, error) {
	kf, err := keyfile.ReadFile(path)
	if err != nil {
		return nil, usageError("--secret: %w", err)
	}
	return kf, nil
}

// applyKeyFile lays a TOML key file's knock settings over p's (a plain file
// has none), and takes its first TCP service as the check port when p has
// none. The gateway's default scheme is not known here, so a file that
// names none knocks with p's.
func applyKeyFile(p *profile.Profile, kf *keyfile.File, path string) error {
	if !kf.TOML {
		return nil
	}
	params, err := kf.Params(p.Params)
	if err != nil {
		return usageError("--secret: %w", keyfile.In(path, err))
	}
	p.Params = params
	if p.CheckPort == 0 {
		p.CheckPort = kf.CheckPort()
	}
	return nil
}

// baseProfile is TARGET as a profile, before the flags; byHost says TARGET
// was a host name (so the profile is the defaults around it).
func baseProfile(env *Env, arg string, f targetFlags) (p profile.Profile, warnings []string, byHost bool, err error) {
	from := "TARGET"
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(env.Stdin, maxStdin))
		if err != nil {
			return profile.Profile{}, nil, false, usageError("reading TARGET from stdin: %w", err)
		}
		arg, from = strings.TrimSpace(string(b)), "stdin"
		if !profile.IsURI(arg) {
			return profile.Profile{}, nil, false, usageError("stdin: want a hyp:// URI")
		}
	}
	if profile.IsURI(arg) {
		p, warnings, err := profile.Parse(arg)
		if err != nil {
			return profile.Profile{}, nil, false, usageError("%s: %w", from, err)
		}
		return p, warnings, false, nil
	}
	if f.secretFile == "" {
		p, found, err := env.lookupSaved(arg)
		if err != nil {
			return profile.Profile{}, nil, false, profileError(arg, err)
		}
		if found {
			return p.Profile, nil, false, nil
		}
	}
	if strings.Contains(strings.ToLower(arg), "secret=") {
		// Never echo it: whatever scheme it has, it carries a key.
		return profile.Profile{}, nil, false, usageError("TARGET %s is not a hyp:// URI (profiles start with hyp://; the secret is not shown)", redactSecret(arg))
	}
	host, err := profile.ParseHost(arg)
	if err != nil {
		return profile.Profile{}, nil, false, usageError("TARGET is not a hyp:// URI, a saved profile or a host: %w", err)
	}
	if f.secretFile == "" {
		if profiles.ValidateName(arg) == nil {
			return profile.Profile{}, nil, false, usageError("no saved profile %q (hyp profile list shows them); to knock the host %s, give --secret FILE or a hyp:// URI", arg, host)
		}
		return profile.Profile{}, nil, false, usageError("TARGET %q is a host, not a hyp:// URI: give --secret FILE", host)
	}
	return profile.Profile{Host: host, Params: sequence.Defaults()}, nil, true, nil
}

func oneTarget(args []string) (string, error) {
	switch len(args) {
	case 1:
		return args[0], nil
	case 0:
		return "", usageError("missing TARGET")
	}
	return "", usageError("want one TARGET, got %d arguments", len(args))
}

func printWarnings(env *Env, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "hyp: warning: %s\n", w)
	}
}

// redactSecret hides the value of every secret= parameter in s.
func redactSecret(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(strings.ToLower(s), "secret=")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len("secret=")] + "…")
		s = s[i+len("secret="):]
		if j := strings.IndexAny(s, "&#"); j >= 0 {
			s = s[j:]
		} else {
			s = ""
		}
	}
}

// profileError is bad input about the saved profile name: the error names the profile once,
// whether or not the store's error already did.
func profileError(name string, err error) error {
	if strings.Contains(err.Error(), fmt.Sprintf("profile %q", name)) {
		return usageError("%w", err)
	}
	return usageError("profile %q: %w", name, err)
}

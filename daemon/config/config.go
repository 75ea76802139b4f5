// Package config reads hypd's configuration: the TOML file
// (/etc/hyp/hypd.toml) and the keys directory with one file per trusted
// agent. It only reads files (WriteKeyFile, used by `hypd secret new`, is
// the one writer); deciding what to do with a bad file is the caller's.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hideyourports/hyp/core/sequence"
)

// Default paths of the packaged daemon.
const (
	DefaultPath     = "/etc/hyp/hypd.toml"
	DefaultKeysDir  = "/etc/hyp/keys"
	DefaultStateDir = "/var/lib/hyp"
)

// Limits checked by Validate.
const (
	MinOpen         = time.Second
	MaxOpen         = 24 * time.Hour
	MinKnockTimeout = 100 * time.Millisecond
	MaxKnockTimeout = time.Minute
	maxIfNameLen    = 15 // IFNAMSIZ less the NUL
)

// Config is hypd's configuration. The toml tags are the keys of the file.
type Config struct {
	// Interfaces the knock detector attaches to.
	Interfaces []string `toml:"interfaces"`
	// KeysDir holds one key file per trusted agent (see LoadKeys).
	KeysDir string `toml:"keys_dir"`
	// Services are protected: closed except to sources with a grant.
	// The default for every key.
	Services []protected.Service `toml:"services"`
	// Open is how long a grant lasts; connections made in that time stay
	// up. The default for every key.
	Open time.Duration `toml:"open"`
	// Scheme is the default knock scheme of keys that do not name one.
	Scheme sequence.Scheme `toml:"scheme"`
	// Realm, when set, binds this gateway's knocks to a name (scheme v3,
	// docs/protocol.md section 10): a knock made for a gateway of another
	// realm opens nothing here, whatever key it was made with. A gateway
	// with a realm loads only v3 keys; "" is no realm (the gateway of old).
	Realm string `toml:"realm"`
	// StateDir holds the spent-sequence record that makes knocks one-time
	// across restarts.
	StateDir string `toml:"state_dir"`
	// Stealth drops every unsolicited connection attempt to a port that is
	// neither public nor granted.
	Stealth bool `toml:"stealth"`
	// Public services stay open to everyone in stealth mode.
	Public []protected.Service `toml:"public"`
	// Skew is how many time steps either side of now a knock may be from.
	Skew int `toml:"skew"`
	// Uses is how many knocks per key and time step are accepted (counters
	// 0..Uses-1). The default for every key.
	Uses int `toml:"uses"`
	// KnockTimeout is how long a whole sequence may take to arrive.
	KnockTimeout time.Duration `toml:"knock_timeout"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// Metrics, if set, is the IP:port where hypd serves Prometheus metrics over plain HTTP.
	// Keep it on loopback or a management network: the metrics name no secret, but they say
	// how busy the gateway is.
	Metrics string `toml:"metrics"`
}

// KeyDefaults returns the knock parameters of a key file that names none:
// the default scheme's, bound to the gateway's realm when the scheme is v3.
func (c Config) KeyDefaults() sequence.Params {
	p := sequence.DefaultsFor(c.Scheme)
	if p.Scheme == sequence.V3 {
		p.Realm = c.Realm
	}
	return p
}

// Default returns the configuration of an empty config file.
//
// The open time defaults to one minute. A grant only has to last until the
// client has connected, because established connections outlive it; so it
// should be short, since anyone sharing the client's address (a NAT, a
// carrier-grade NAT, a café's Wi-Fi) shares the grant. A minute still
// covers a person who knocks with the CLI and then types an ssh command,
// and a VPN client's handshake retries; 30 seconds proved tight for the
// former.
func Default() Config {
	return Config{
		KeysDir:      DefaultKeysDir,
		Open:         time.Minute,
		Scheme:       sequence.V2,
		StateDir:     DefaultStateDir,
		Skew:         1,
		Uses:         1,
		KnockTimeout: 5 * time.Second,
		LogLevel:     "info",
	}
}

// FieldError is a problem with one setting, named by its TOML key.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate reports every setting that is out of range; each error is a
// *FieldError naming the setting. Empty interfaces and services are valid
// here: flags may still supply them, and keys may bring their own services;
// whether there is something to run is for hypd to decide.
func (c Config) Validate() error {
	var errs []error
	for i, name := range c.Interfaces {
		if name == "" || len(name) > maxIfNameLen || strings.ContainsAny(name, "/ \t\n\x00") {
			errs = append(errs, fieldErr("interfaces", "item %d: %q is not an interface name", i+1, name))
		}
		for _, prev := range c.Interfaces[:i] {
			if prev == name {
				errs = append(errs, fieldErr("interfaces", "item %d: %q listed twice", i+1, name))
			}
		}
	}
	for _, d := range []struct{ field, path string }{{"keys_dir", c.KeysDir}, {"state_dir", c.StateDir}} {
		if !filepath.IsAbs(d.path) {
			errs = append(errs, fieldErr(d.field, "%q is not an absolute path", d.path))
		}
	}
	errs = append(errs, checkServices("services", c.Services)...)
	errs = append(errs, checkServices("public", c.Public)...)
	for _, p := range c.Public {
		for _, s := range c.Services {
			if p == s {
				errs = append(errs, fieldErr("public", "%s is also in services; a service is either protected or public", p))
			}
		}
	}
	if err := checkOpen(c.Open); err != nil {
		errs = append(errs, &FieldError{"open", err})
	}
	if _, err := sequence.ParseScheme(string(c.Scheme)); err != nil {
		errs = append(errs, &FieldError{"scheme", err})
	}
	if err := sequence.CheckRealm(c.Realm); err != nil {
		errs = append(errs, &FieldError{"realm", err})
	}
	if c.Skew < 0 || c.Skew > sequence.MaxSkew {
		errs = append(errs, fieldErr("skew", "must be 0..%d time steps, got %d", sequence.MaxSkew, c.Skew))
	}
	if err := checkUses(c.Uses); err != nil {
		errs = append(errs, &FieldError{"uses", err})
	}
	if c.KnockTimeout < MinKnockTimeout || c.KnockTimeout > MaxKnockTimeout {
		errs = append(errs, fieldErr("knock_timeout", "must be %v..%v, got %v", MinKnockTimeout, MaxKnockTimeout, c.KnockTimeout))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fieldErr("log_level", "must be debug, info, warn or error, got %q", c.LogLevel))
	}
	if c.Metrics != "" {
		if ap, err := netip.ParseAddrPort(c.Metrics); err != nil || ap.Port() == 0 {
			errs = append(errs, fieldErr("metrics", "%q is not IP:PORT such as \"127.0.0.1:9108\" or \"[::1]:9108\"", c.Metrics))
		}
	}
	return errors.Join(errs...)
}

func checkServices(field string, svcs []protected.Service) []error {
	var errs []error
	for i, s := range svcs {
		if err := s.Validate(); err != nil {
			errs = append(errs, fieldErr(field, "item %d: %w", i+1, err))
		}
		for _, prev := range svcs[:i] {
			if prev == s {
				errs = append(errs, fieldErr(field, "item %d: %s listed twice", i+1, s))
			}
		}
	}
	return errs
}

func checkOpen(d time.Duration) error {
	if d < MinOpen || d > MaxOpen {
		return fmt.Errorf("must be %v..%v, got %v", MinOpen, MaxOpen, d)
	}
	return nil
}

func checkUses(n int) error {
	if n < 1 || n > sequence.MaxUses {
		return fmt.Errorf("must be 1..%d, got %d", sequence.MaxUses, n)
	}
	return nil
}

// Load reads and validates the config file at path. Keys missing from the
// file keep their Default values; relative directories are taken relative
// to the file's directory. Errors name the file, and the line where known.
func Load(path string) (Config, error) {
	data, err := readTrusted(path)
	if err != nil {
		return Config{}, err
	}
	c, err := parse(data, path)
	if err != nil {
		return Config{}, err
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&c.KeysDir, &c.StateDir} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, locate(data, path, err)
	}
	return c, nil
}

// parse decodes data over Default without validating it.
func parse(data []byte, path string) (Config, error) {
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// One line per problem: the TOML library quotes what it found, newlines included.
			msg := oneLine(pe.Message)
			if pe.LastKey != "" {
				return Config{}, fmt.Errorf("config %s:%d: %s: %s", path, pe.Position.Line, oneLine(pe.LastKey), msg)
			}
			return Config{}, fmt.Errorf("config %s:%d: %s", path, pe.Position.Line, msg)
		}
		// Type mismatches come as plain errors in the form
		// `toml: line N (last key "K"): message`; give them the same shape.
		if m := regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`).FindStringSubmatch(err.Error()); m != nil {
			return Config{}, fmt.Errorf("config %s:%s: %s: %s", path, m[1], m[2], m[3])
		}
		return Config{}, fmt.Errorf("config %s: %s", path, oneLine(err.Error()))
	}
	if err := undecoded(data, md, "config "+path); err != nil {
		return Config{}, err
	}
	if err := foldedTwice(md, "config "+path); err != nil {
		return Config{}, err
	}
	if s, err := sequence.ParseScheme(string(c.Scheme)); err == nil {
		c.Scheme = s
	}
	// `x = []` and a missing x mean the same; keep one form so a Config
	// compares equal however it was written.
	for _, p := range []*[]protected.Service{&c.Services, &c.Public} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	if len(c.Interfaces) == 0 {
		c.Interfaces = nil
	}
	return c, nil
}

// foldedTwice refuses a file that sets one setting under two spellings (services and Services):
// both are valid TOML, and the decoder, which matches a key to its field whatever its case, fills
// the field from whichever its map order reaches last, so the same file would protect one list on
// one start and the other on the next (the sixth attacker review).
func foldedTwice(md toml.MetaData, what string) error {
	seen := map[string]string{}
	for _, k := range md.Keys() {
		key := k.String()
		fold := strings.ToLower(key)
		if first, ok := seen[fold]; ok && first != key {
			return fmt.Errorf("%s: %s and %s are one setting (keys match whatever their case); keep one", what, first, key)
		}
		seen[fold] = key
	}
	return nil
}

// undecoded turns keys the file has but the target lacks into one error,
// "WHAT:LINE: unknown key NAME" for each (a typo must not pass silently: a
// misspelt `stealth` would leave every port answering).
func undecoded(data []byte, md toml.MetaData, what string) error {
	var errs []error
	for _, k := range md.Undecoded() {
		if len(k) > 1 && slicesHasPrefix(md.Undecoded(), k[:len(k)-1]) {
			continue // inside an unknown table: the table is reported
		}
		if line := keyLine(data, k); line > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q", what, line, k.String()))
		} else {
			errs = append(errs, fmt.Errorf("%s: unknown key %q", what, k.String()))
		}
	}
	return errors.Join(errs...)
}

func slicesHasPrefix(keys []toml.Key, prefix toml.Key) bool {
	for _, k := range keys {
		if k.String() == prefix.String() {
			return true
		}
	}
	return false
}

// keyLine finds the line defining key in a TOML document (0 if not found).
// The toml package does not export key positions; this covers the forms a
// config file uses: `key = ...` inside the right [table], and [table].
func keyLine(data []byte, key toml.Key) int {
	table := ""
	want := key[len(key)-1]
	parent := strings.Join(key[:len(key)-1], ".")
	for i, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			name := strings.Trim(strings.TrimSpace(strings.Trim(l, "[]")), `"`)
			if name == key.String() {
				return i + 1
			}
			table = name
			continue
		}
		if table != parent {
			continue
		}
		name, _, ok := strings.Cut(l, "=")
		if ok && strings.Trim(strings.TrimSpace(name), `"'`) == want {
			return i + 1
		}
	}
	return 0
}

// locate prefixes validation errors with the file and the line of the key.
func locate(data []byte, path string, err error) error {
	var errs []error
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, e := range list {
		var fe *FieldError
		if errors.As(e, &fe) {
			if line := keyLine(data, toml.Key{fe.Field}); line > 0 {
				errs = append(errs, fmt.Errorf("config %s:%d: %w", path, line, e))
				continue
			}
		}
		errs = append(errs, fmt.Errorf("config %s: %w", path, e))
	}
	return errors.Join(errs...)
}

// StateDirOf returns the state directory a config file names, read as leniently as possible: a
// file that fails to load for any other reason (a typo elsewhere, a value out of range) still
// tells hypd where its last protection is kept. A file that does not parse at all, or names no
// usable directory, gives DefaultStateDir.
func StateDirOf(path string) string { return dirOf(path, "state_dir", DefaultStateDir) }

// ServicesOf returns the protected services a config file names, read as leniently as
// StateDirOf: from a file that is refused (someone else may have written it) or fails to load
// for another reason. They are only ever hidden more (gateway.FailClosed): on a first boot
// there is no saved protection yet, and the file is the one thing that says what to hide. Every
// spelling of the key counts (Services too); an entry that does not parse is skipped. A file that
// does not parse even with its broken lines left out gives every quoted service anywhere in it:
// hiding too much only waits for the admin.
func ServicesOf(path string) []protected.Service {
	data, err := ReadBounded(path)
	if err != nil {
		return nil
	}
	var list []string
	if c, ok := decodeLenient(data); ok {
		for k, v := range c {
			if !strings.EqualFold(k, "services") {
				continue
			}
			vals, _ := v.([]any)
			for _, v := range vals {
				if text, ok := v.(string); ok {
					list = append(list, text)
				}
			}
		}
	} else {
		for _, q := range regexp.MustCompile(`"((?:tcp|udp)/[0-9]+)"|'((?:tcp|udp)/[0-9]+)'`).FindAllSubmatch(data, -1) {
			list = append(list, string(q[1])+string(q[2]))
		}
	}
	var out []protected.Service
	for _, text := range list {
		if s, err := protected.ParseService(text); err == nil && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// maxRepairs bounds how many broken lines decodeLenient leaves out.
const maxRepairs = 32

// decodeLenient decodes a config file's TOML into a map the way the loader's parser reads it,
// leaving out each line the parser stops at (the typo that made the file fail: `open = 5m`), up
// to maxRepairs of them; it says so when the file still does not parse.
func decodeLenient(data []byte) (map[string]any, bool) {
	lines := strings.Split(string(data), "\n")
	for range maxRepairs + 1 {
		var c map[string]any
		_, err := toml.NewDecoder(strings.NewReader(strings.Join(lines, "\n"))).Decode(&c)
		if err == nil {
			return c, true
		}
		var pe toml.ParseError
		if !errors.As(err, &pe) || pe.Position.Line < 1 || pe.Position.Line > len(lines) || lines[pe.Position.Line-1] == "" {
			return nil, false
		}
		lines[pe.Position.Line-1] = ""
	}
	return nil, false
}

// lookupFold finds key in c as Load does: the TOML decoder matches a key to its field whatever
// its case, so a file that says State_Dir = ... loads, and must say the same here.
func lookupFold(c map[string]any, key string) any {
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// ReadBounded reads a config file the way the fail-closed start may: whoever wrote it, it must
// not hang hypd (a FIFO), nor eat its memory (a sparse file of a terabyte, a link to
// /dev/zero). A regular file, opened without blocking, at most maxConfigFile bytes read; any
// other file is an error.
func ReadBounded(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a config file", path, maxConfigFile)
	}
	return data, nil
}

// KeysDirOf is StateDirOf for keys_dir: where the key files are when the configuration that
// names them does not load.
func KeysDirOf(path string) string { return dirOf(path, "keys_dir", DefaultKeysDir) }

// dirOf reads one directory setting from a configuration file that may not load as a whole,
// falling back to def. A file the trust checks refuse is read too: the directory it names is
// only ever added to those whose saved protections a failed start hides (gateway.FailClosed),
// and what such a protection lists as public never un-hides what another one protects.
func dirOf(path, key, def string) string {
	data, err := ReadBounded(path)
	if err != nil {
		return def
	}
	dir := ""
	if c, ok := decodeLenient(data); ok {
		dir, _ = lookupFold(c, key).(string)
	} else if m := regexp.MustCompile(`(?mi)^\s*` + key + `\s*=\s*(?:"([^"]+)"|'([^']+)')\s*(#.*)?$`).FindSubmatch(data); m != nil {
		// Not TOML any more (a half-written edit): the line itself may still be intact.
		dir = string(m[1]) + string(m[2])
	}
	if dir == "" {
		return def
	}
	if !filepath.IsAbs(dir) {
		return filepath.Join(filepath.Dir(path), dir)
	}
	return dir
}

// oneLine spells the line breaks of a message as \n and \r, so that an error is one line of the
// log whatever the file held.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

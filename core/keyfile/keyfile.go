// Package keyfile reads the gateway's key files (docs/gateway.md): a plain
// file that holds the base32 secret and nothing else (the reference client's
// format), or a TOML file, `secret = "…"` with per-key settings, which is
// what `hypd secret new` writes when a key differs from the defaults.
//
// It is the one reader of the format: hypd loads its keys with it
// (daemon/config adds what only a gateway needs of the settings, services,
// open time and uses), and the client knocks with one (hyp knock --secret
// bob.toml). It reads the small TOML subset a key file is written in
// itself, because core depends on the standard library alone.
//
// Errors name the line and setting and never quote a value: the file holds
// a secret.
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// MaxSize bounds what is read of a key file: the longest key is 1639 base32
// characters, and the settings of a TOML file add a few lines.
const MaxSize = 64 << 10

// Settings are the names a TOML key file may set. Anything else is an error,
// so a misspelt setting is not silently ignored.
var settings = []string{"secret", "scheme", "realm", "length", "step", "low", "high", "services", "open", "uses"}

// File is a key file read: its secret and, for a TOML file, its other
// settings by name, checked for type by the accessors below.
type File struct {
	Secret psk.Key
	TOML   bool
	values map[string]Value // every setting but secret; nil for a plain file
}

// Error is a problem in a key file: the line (0 when it is not one line's)
// and setting (empty when it is not one setting's) and what is wrong.
type Error struct {
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// In places err in the file at path, as "key file PATH:LINE: setting: what",
// the form hypd logs and hyp prints. Other errors get the path in front.
func In(path string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	where := "key file " + path
	if e.Line > 0 {
		where += fmt.Sprintf(":%d", e.Line)
	}
	if e.Field != "" {
		return fmt.Errorf("%s: %s: %s", where, e.Field, e.Msg)
	}
	return fmt.Errorf("%s: %s", where, e.Msg)
}

// ParsePlain reads a plain key file: the base32 secret, as psk.Parse takes it.
func ParsePlain(data []byte) (*File, error) {
	k, err := psk.Parse(string(data))
	if err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	return &File{Secret: k}, nil
}

// ParseTOML reads a TOML key file. Its secret is required and checked; every
// other setting is checked for a known name here and for type and range by
// the accessor that reads it.
func ParseTOML(data []byte) (*File, error) {
	values, err := parseTOML(data)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return values[a].Line - values[b].Line })
	for _, name := range names {
		if !slices.Contains(settings, name) {
			return nil, &Error{Line: values[name].Line, Msg: fmt.Sprintf("unknown key %q", name)}
		}
	}
	v, ok := values["secret"]
	if !ok {
		return nil, &Error{Field: "secret", Msg: "missing"}
	}
	if v.Kind != String {
		return nil, &Error{Line: v.Line, Field: "secret", Msg: "must be a base32 string"}
	}
	k, err := psk.Parse(v.Str)
	if err != nil {
		return nil, &Error{Line: v.Line, Field: "secret", Msg: err.Error()}
	}
	delete(values, "secret")
	return &File{Secret: k, TOML: true, values: values}, nil
}

// LooksTOML reports whether data is a TOML key file rather than a plain one:
// its first line that is not blank or a comment sets a name (`secret = "…"`).
// A plain key never does: base32 has no '=' but padding at its very end.
func LooksTOML(data []byte) bool {
	for _, line := range strings.Split(strings.TrimPrefix(string(data), "\uFEFF"), "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, rest, ok := strings.Cut(l, "=")
		if !ok {
			return false
		}
		name, rest = strings.TrimSpace(name), strings.TrimSpace(rest)
		return name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-\"'") == "" &&
			rest != "" && rest[0] != '='
	}
	return false
}

// Parse reads either form: TOML when LooksTOML says so, else plain.
func Parse(data []byte) (*File, error) {
	if LooksTOML(data) {
		return ParseTOML(data)
	}
	return ParsePlain(data)
}

// ReadFile reads the key file at path for a client: a .toml file, or one
// that looks like TOML, as TOML, anything else as a plain key. Errors name
// the file and line, never key material.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err) // *PathError names the file
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("key file %s: larger than %d bytes, not a key file", path, MaxSize)
	}
	parse := Parse
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		parse = ParseTOML
	}
	kf, err := parse(data)
	if err != nil {
		return nil, In(path, err)
	}
	return kf, nil
}

// Has reports whether the file sets name.
func (f *File) Has(name string) bool {
	_, ok := f.values[name]
	return ok
}

// Line is where name is set (0 if it is not).
func (f *File) Line(name string) int { return f.values[name].Line }

// String returns a string setting; ok is false when it is not set.
func (f *File) String(name, want string) (s string, ok bool, err error) {
	v, ok := f.values[name]
	if !ok {
		return "", false, nil
	}
	if v.Kind != String {
		return "", true, &Error{Line: v.Line, Field: name, Msg: "must be " + want}
	}
	return v.Str, true, nil
}

// Int returns an integer setting; ok is false when it is not set.
func (f *File) Int(name string) (n int64, ok bool, err error) {
	v, ok := f.values[name]
	if !ok {
		return 0, false, nil
	}
	if v.Kind != Integer {
		return 0, true, &Error{Line: v.Line, Field: name, Msg: "must be an integer"}
	}
	return v.Int, true, nil
}

// Strings returns a list of strings; ok is false when it is not set. want
// describes the list for errors (`a list such as ["tcp/22"]`).
func (f *File) Strings(name, want string) (list []string, ok bool, err error) {
	v, ok := f.values[name]
	if !ok {
		return nil, false, nil
	}
	if v.Kind != Array {
		return nil, true, &Error{Line: v.Line, Field: name, Msg: "must be " + want}
	}
	list = []string{}
	for i, item := range v.Items {
		if item.Kind != String {
			return nil, true, &Error{Line: v.Line, Field: name, Msg: fmt.Sprintf("item %d: must be a string", i+1)}
		}
		list = append(list, item.Str)
	}
	return list, true, nil
}

// Params returns the knock parameters the file sets over the defaults of
// def's scheme (the gateway's default scheme for a key that names none) and,
// for v3, def's realm (the gateway's), checked as a gateway checks them. A
// plain file sets none.
func (f *File) Params(def sequence.Params) (sequence.Params, error) {
	// def's realm is the gateway's, for a key of scheme v3 whatever def's
	// own scheme: so the file's scheme picks the defaults here, and Apply
	// (given that scheme's defaults) checks the rest.
	var fields sequence.Fields
	scheme := def.Scheme
	if s, ok, err := f.String("scheme", `a string, "v2", "v3" or "hyp"`); err != nil {
		return sequence.DefaultsFor(scheme), err
	} else if ok {
		fields.Scheme = new(sequence.Scheme(s))
		if sch, err := sequence.ParseScheme(s); err == nil {
			scheme = sch
		}
	}
	realm := def.Realm
	def = sequence.DefaultsFor(scheme)
	if def.Scheme == sequence.V3 {
		def.Realm = realm
	}
	if r, ok, err := f.String("realm", "a string"); err != nil {
		return def, err
	} else if ok {
		fields.Realm = &r
	}
	for _, n := range []struct {
		name string
		set  **int64
	}{{"length", &fields.Length}, {"step", &fields.Step}, {"low", &fields.Low}, {"high", &fields.High}} {
		v, ok, err := f.Int(n.name)
		if err != nil {
			return def, err
		}
		if ok {
			*n.set = &v
		}
	}
	// A hyp key's low and high mean nothing (its ports span the whole
	// range); the gateway has never complained of them, so neither does this.
	p, _, err := fields.Apply(def)
	if fe, ok := errors.AsType[*sequence.FieldError](err); ok {
		return def, &Error{Line: f.Line(fe.Field), Field: fe.Field, Msg: fe.Msg}
	} else if err != nil {
		return def, &Error{Msg: err.Error()}
	}
	return p, nil
}

// CheckPort is the first TCP service the file names, which a client can dial
// to see that its knock opened (0 when it names none). A malformed list is
// the gateway's to report; here it only means no check port.
func (f *File) CheckPort() uint16 {
	list, _, err := f.Strings("services", "")
	if err != nil {
		return 0
	}
	for _, s := range list {
		if port, err := profile.ParseCheck(s); err == nil {
			return port
		}
	}
	return 0
}

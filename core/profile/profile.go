// Package profile reads and writes the hyp:// URI of docs/protocol.md section 6:
// one string that carries everything a client needs to knock a gateway, for
// copy-paste or a QR code.
//
// Parse is written by hand rather than with net/url because url.Parse quotes
// the whole input in its errors, and the input holds the secret.
package profile

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// URIScheme is the scheme prefix of a profile URI.
const URIScheme = "hyp"

// MaxNameLen bounds the display name (in characters).
const MaxNameLen = 128

// Profile is one gateway as a client sees it.
type Profile struct {
	Name      string
	Host      string // DNS name or IP address, without brackets
	Key       psk.Key
	Params    sequence.Params
	CheckPort uint16 // TCP port that answers after a good knock; 0 = none
}

// Parse reads a hyp:// URI. Warnings report what was ignored (unknown
// parameters, low/high with scheme hyp); errors name the part or parameter
// that was wrong and never contain the secret.
func Parse(uri string) (Profile, []string, error) {
	p, warnings, err := parse(uri)
	if err != nil {
		return Profile{}, nil, fmt.Errorf("profile URI: %w", err)
	}
	return p, warnings, nil
}

// IsURI reports whether s looks like a profile URI rather than a host name
// or a saved profile name.
func IsURI(s string) bool {
	return len(s) > len(URIScheme)+3 && strings.EqualFold(s[:len(URIScheme)+3], URIScheme+"://")
}

func parse(uri string) (Profile, []string, error) {
	uri = strings.TrimSpace(uri)
	if !IsURI(uri) {
		return Profile{}, nil, fmt.Errorf("must start with %s://", URIScheme)
	}
	rest := uri[len(URIScheme)+3:]
	var warnings []string
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
		warnings = append(warnings, "fragment (#...) ignored")
	}
	authority, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(authority, "/")
	if path != "" {
		return Profile{}, nil, errors.New("host: a path is not allowed after the host")
	}
	host, err := parseHost(authority, true)
	if err != nil {
		return Profile{}, nil, fmt.Errorf("host: %w", err)
	}

	values := map[string]string{}
	for _, field := range strings.Split(query, "&") {
		if field == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(field, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return Profile{}, nil, errors.New("query: a parameter name has a bad %-escape")
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return Profile{}, nil, fmt.Errorf("parameter %q: bad %%-escape", name)
		}
		name = strings.ToLower(name)
		if _, dup := values[name]; dup {
			return Profile{}, nil, fmt.Errorf("parameter %q: given twice", name)
		}
		values[name] = value
	}

	p := Profile{Host: host, Params: sequence.Defaults()}
	secret, ok := values["secret"]
	if !ok {
		return Profile{}, nil, errors.New(`parameter "secret": missing`)
	}
	if p.Key, err = psk.Parse(secret); err != nil {
		return Profile{}, nil, fmt.Errorf(`parameter "secret": %w`, err)
	}
	// A URI without kc (from an older hypd, or typed by hand) is read as
	// before; one with it must carry the key it was made for.
	if kc, ok := values["kc"]; ok {
		if err := p.Key.VerifyCheck(kc); err != nil {
			if errors.Is(err, psk.ErrCheckMismatch) {
				return Profile{}, nil, fmt.Errorf(`parameter "secret": %w`, err)
			}
			return Profile{}, nil, fmt.Errorf(`parameter "kc": %w`, err)
		}
	}
	var f sequence.Fields
	if v, ok := values["scheme"]; ok {
		f.Scheme = new(sequence.Scheme(v))
	}
	if v, ok := values["realm"]; ok {
		f.Realm = &v
	}
	for _, n := range []struct {
		name string
		set  **int64
	}{{"length", &f.Length}, {"step", &f.Step}, {"low", &f.Low}, {"high", &f.High}} {
		if v, ok := values[n.name]; ok {
			i, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Profile{}, nil, fmt.Errorf("parameter %q: must be a whole number, got %q", n.name, v)
			}
			*n.set = &i
		}
	}
	params, ignored, err := f.Apply(p.Params)
	if fe, ok := errors.AsType[*sequence.FieldError](err); ok {
		return Profile{}, nil, fmt.Errorf("parameter %q: %s", fe.Field, fe.Msg)
	} else if err != nil {
		return Profile{}, nil, err
	}
	p.Params = params
	for _, w := range ignored {
		warnings = append(warnings, fmt.Sprintf("parameter %q %s", w.Field, w.Msg))
	}
	if v, ok := values["name"]; ok {
		if err := checkName(v); err != nil {
			return Profile{}, nil, fmt.Errorf(`parameter "name": %w`, err)
		}
		p.Name = v
	}
	if v, ok := values["check"]; ok {
		if p.CheckPort, err = ParseCheck(v); err != nil {
			return Profile{}, nil, fmt.Errorf(`parameter "check": %w`, err)
		}
	}
	for name := range values {
		switch name {
		case "secret", "kc", "scheme", "realm", "length", "step", "low", "high", "name", "check":
		default:
			warnings = append(warnings, fmt.Sprintf("unknown parameter %q ignored", name))
		}
	}
	slices.Sort(warnings) // map order would make them random
	return p, warnings, nil
}

// ParseCheck reads "tcp/PORT", the form of the check parameter and of the
// clients' --check flag.
func ParseCheck(s string) (uint16, error) {
	proto, port, ok := strings.Cut(s, "/")
	if !ok || !strings.EqualFold(proto, "tcp") {
		return 0, fmt.Errorf("must be tcp/PORT, got %q", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port must be 1..65535, got %q", port)
	}
	return uint16(n), nil
}

func checkName(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxNameLen {
		return fmt.Errorf("longer than %d characters (%d)", MaxNameLen, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("contains a control character")
		}
	}
	return nil
}

// ParseHost accepts a DNS name, an IPv4 address or an IPv6 address (bare or
// in brackets, with an optional %zone) and returns it without brackets.
// A port is refused: the knock ports come from the key.
func ParseHost(s string) (string, error) { return parseHost(s, false) }

// parseHost requires brackets around IPv6 when inURI, as RFC 3986 does.
func parseHost(s string, inURI bool) (string, error) {
	if s == "" {
		return "", errors.New("missing")
	}
	if strings.Contains(s, "@") {
		return "", errors.New("user info (user@) is not allowed")
	}
	if strings.HasPrefix(s, "[") {
		inner, rest, ok := strings.Cut(s[1:], "]")
		if !ok {
			return "", errors.New("missing ] after IPv6 address")
		}
		if rest != "" {
			return "", fmt.Errorf("unexpected %q after ] (a port is not allowed)", rest)
		}
		unescaped, err := url.PathUnescape(inner) // "%25" before a zone
		if err != nil {
			return "", fmt.Errorf("bad %%-escape in %q", inner)
		}
		a, err := netip.ParseAddr(unescaped)
		if err != nil || !a.Is6() {
			return "", fmt.Errorf("%q is not an IPv6 address", inner)
		}
		return a.String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && (a.Is4() || !inURI) {
		return a.String(), nil
	}
	if strings.Contains(s, ":") {
		return "", fmt.Errorf("%q: a port is not allowed, and IPv6 addresses go in brackets", s)
	}
	if err := checkDNSName(s); err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	return strings.ToLower(s), nil
}

func checkDNSName(s string) error {
	name := strings.TrimSuffix(s, ".")
	if len(name) == 0 || len(name) > 253 {
		return errors.New("not a DNS name (length)")
	}
	allDigits := true
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return errors.New("not a DNS name (empty or over-long label)")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a DNS name (label starts or ends with -)")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
				allDigits = false
			default:
				return fmt.Errorf("not a DNS name (character %q)", c)
			}
		}
	}
	if allDigits {
		return errors.New("not a DNS name or IPv4 address")
	}
	return nil
}

// URI returns the full URI including the secret and its check (kc), for
// export only. Settings at their defaults are left out to keep QR codes
// small.
func (p Profile) URI() string {
	if p.Key.IsZero() {
		return p.uri("")
	}
	return p.uri(p.Key.Encode() + "&kc=" + p.Key.Check())
}

// String is the URI with the secret redacted, safe for logs.
func (p Profile) String() string { return p.uri("REDACTED") }

// GoString keeps %#v from printing fields one by one.
func (p Profile) GoString() string { return "profile.Profile(" + p.String() + ")" }

func (p Profile) uri(secret string) string {
	var b strings.Builder
	b.WriteString(URIScheme + "://")
	b.WriteString(hostForURI(p.Host))
	b.WriteString("?secret=")
	b.WriteString(secret)
	d := sequence.DefaultsFor(p.Params.Scheme)
	if p.Params.Scheme == sequence.Hyp {
		b.WriteString("&scheme=hyp")
	} else {
		if p.Params.Scheme != sequence.V2 && p.Params.Scheme != "" {
			b.WriteString("&scheme=" + url.QueryEscape(string(p.Params.Scheme)))
		}
		if p.Params.Scheme == sequence.V3 && p.Params.Realm != "" {
			b.WriteString("&realm=" + url.QueryEscape(p.Params.Realm))
		}
		if p.Params.Length != d.Length {
			fmt.Fprintf(&b, "&length=%d", p.Params.Length)
		}
		if p.Params.Step != d.Step {
			fmt.Fprintf(&b, "&step=%d", p.Params.Step)
		}
		if p.Params.Low != d.Low {
			fmt.Fprintf(&b, "&low=%d", p.Params.Low)
		}
		if p.Params.High != d.High {
			fmt.Fprintf(&b, "&high=%d", p.Params.High)
		}
	}
	if p.Name != "" {
		b.WriteString("&name=" + url.QueryEscape(p.Name))
	}
	if p.CheckPort != 0 {
		fmt.Fprintf(&b, "&check=tcp/%d", p.CheckPort)
	}
	return b.String()
}

func hostForURI(h string) string {
	if !strings.Contains(h, ":") {
		return h
	}
	// A zone may hold any character, '?', '#', '/' and ']' included: escaped, so the URI
	// parses back to the same host.
	if addr, zone, ok := strings.Cut(h, "%"); ok {
		return "[" + addr + "%25" + url.PathEscape(zone) + "]"
	}
	return "[" + h + "]"
}

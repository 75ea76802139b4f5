package config

import (
	"bytes"
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

const fuzzConfigPath = "/etc/hyp/hypd.toml"

// FuzzConfig feeds hypd.toml's parser arbitrary files. Every error names the file; a file that
// parses and validates is written back with the toml encoder and reads back as the same Config.
func FuzzConfig(f *testing.F) {
	f.Add(DefaultTOML())
	for _, s := range []string{
		"interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\n",
		`interfaces = ["eth0", "wg0"]
services = ["tcp/22", "UDP/51820"]
open = "90s"
keys_dir = "/etc/hyp/keys"
scheme = "HYP"
state_dir = "/var/lib/hyp"
stealth = true
public = ["tcp/443", "udp/53"]
skew = 2
uses = 3
knock_timeout = "2s"
log_level = "debug"
metrics = "[::1]:9108"
`,
		"stelth = true\n",
		"[extra]\nx = 1\n",
		"interfaces = [\"eth0\"\n",
		"services = [\"icmp/8\"]\n",
		"open = 5\n",
		"open = \"forever\"\n",
		"skew = 99\nuses = 0\n",
		"interfaces = [\"eth0\", \"eth0\", \"a/b\", \"\"]\n",
		"services = [\"tcp/22\"]\npublic = [\"tcp/22\"]\n",
		"keys_dir = \"keys\"\nstate_dir = \"\"\n",
		"metrics = \"127.0.0.1:0\"\n",
		"log_level = \"loud\"\n",
		"knock_timeout = \"1ns\"\n",
		"\"services\" = [\"tcp/22\"]\n[\"x\"]\n",
		"services = [ 22 ]\n",
		"open = \"1m\"\nopen = \"2m\"\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := parse([]byte(data), fuzzConfigPath)
		if err != nil {
			checkNamesFile(t, data, err, "config "+fuzzConfigPath)
			return
		}
		if err := c.Validate(); err != nil {
			checkNamesFile(t, data, locate([]byte(data), fuzzConfigPath, err), "config "+fuzzConfigPath)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%q: a validation error that names no setting: %v", data, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(c); err != nil {
			t.Fatalf("%q: a valid config does not encode: %v", data, err)
		}
		again, err := parse(buf.Bytes(), fuzzConfigPath)
		if err != nil {
			t.Fatalf("%q: written back as\n%s\nit does not parse: %v", data, buf.String(), err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("%q: written back as\n%s\nit does not validate: %v", data, buf.String(), err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("%q: round trip changed the config:\n%+v\n%+v", data, c, again)
		}
	})
}

// checkNamesFile fails unless every line of err says which file it is about.
func checkNamesFile(t *testing.T, data string, err error, prefix string) {
	t.Helper()
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("%q: error line %q does not start with %q", data, line, prefix)
		}
	}
}

const fuzzKeyPath = "/etc/hyp/keys/fuzz.toml"

// fuzzKey is loadKey's starting point for a .toml file, without the file.
func fuzzKey(defaults Config) Key {
	return Key{
		Name:     "fuzz",
		Path:     fuzzKeyPath,
		Params:   sequence.DefaultsFor(defaults.Scheme),
		Services: slices.Clone(defaults.Services),
		Open:     defaults.Open,
		Uses:     defaults.Uses,
	}
}

// FuzzKeyFile feeds the .toml key file parser arbitrary files. Errors name the file and never
// quote the secret; a key that loads is written back by keyFileContent (what `hypd secret new`
// writes) and loads back as the same key.
func FuzzKeyFile(f *testing.F) {
	k, err := psk.Generate()
	if err != nil {
		f.Fatal(err)
	}
	s := k.Encode()
	for _, c := range []string{
		"secret = \"" + s + "\"\n",
		"# carol's laptop\nsecret = \"" + strings.ToLower(s) + "\"\nscheme = \"v2\"\nlength = 6\nstep = 60\nlow = 2000\nhigh = 60000\nservices = [\"tcp/22\", \"udp/51820\"]\nopen = \"5m\"\nuses = 4\n",
		"secret = \"" + s + "\"\nscheme = \"hyp\"\n",
		"secret = \"" + s + "\"\nscheme = \"hyp\"\nlow = 5\nhigh = 6\n",
		"secret = \"" + s + "\"\nlength = 2\nlow = 1024\nhigh = 1025\n",
		"secret = \"" + s + "\"\nservices = [\"tcp/80\"]\n",
		"secret = \"" + s + "\"\nservices = []\n",
		"secret = \"" + s + "\"\nservices = [\"tcp/22\", \"tcp/22\"]\n",
		"secret = \"" + s + "\"\nopen = \"1h\"\nuses = 1024\n",
		"secret = \"" + s + "\"\nopen = 90\n",
		"secret = \"" + s + "\"\nuses = -1\n",
		"secret = \"" + s + "\"\nsecret = \"" + s + "\"\n",
		"secret = \"" + s + "\n",
		"secret = 42\n",
		"secret = \"AAAA\"\n",
		"scheme = \"v2\"\n",
		"secret = \"" + s + "\"\n[table]\nx = 1\n",
		"secret = \"" + s + "\"\nlow = 70000\n",
		"secret = \"" + s + "\"\nscheme = '" + s + "'\n",
	} {
		f.Add(c)
	}
	defaults := Default()
	defaults.Services = []protected.Service{{Proto: "tcp", Port: 22}}
	defaults.Public = []protected.Service{{Proto: "tcp", Port: 80}}
	f.Fuzz(func(t *testing.T, data string) {
		k := fuzzKey(defaults)
		err := k.parseTOML([]byte(data), defaults)
		if err != nil {
			checkKeyError(t, data, err)
			return
		}
		if k.Secret.IsZero() {
			t.Fatalf("%q: loaded without a secret", data)
		}
		if err := k.Params.Validate(); err != nil {
			t.Fatalf("%q: loaded with invalid settings: %v", data, err)
		}
		if err := checkEntropy(k.Params); err != nil {
			t.Fatalf("%q: loaded with guessable sequences: %v", data, err)
		}
		if err := checkOpen(k.Open); err != nil {
			t.Fatalf("%q: loaded with open %v: %v", data, k.Open, err)
		}
		if err := checkUses(k.Uses); err != nil {
			t.Fatalf("%q: loaded with uses %d: %v", data, k.Uses, err)
		}
		if len(k.Services) == 0 {
			t.Fatalf("%q: loaded opening nothing", data)
		}
		for _, svc := range k.Services {
			if err := svc.Validate(); err != nil || slices.Contains(defaults.Public, svc) {
				t.Fatalf("%q: loaded with service %v (public: %v): %v", data, svc, defaults.Public, err)
			}
		}

		content, ext, err := keyFileContent(k)
		if err != nil {
			t.Fatalf("%q: a loaded key cannot be written: %v", data, err)
		}
		again := fuzzKey(defaults)
		if ext == tomlExt {
			err = again.parseTOML(content, defaults)
		} else {
			again.Secret, err = psk.Parse(string(content))
		}
		if err != nil {
			t.Fatalf("%q: written back as %s file, it does not load: %v", data, ext, err)
		}
		if !sameKey(k, again) {
			t.Fatalf("%q: round trip changed the key:\n%+v\n%+v", data, k, again)
		}
	})
}

// sameKey compares what a key does. The hyp scheme ignores low and high.
func sameKey(a, b Key) bool {
	pa, pb := a.Params, b.Params
	if pa.Scheme == sequence.Hyp {
		pa.Low, pa.High, pb.Low, pb.High = 0, 0, 0, 0
	}
	return a.Secret.Equal(b.Secret) && pa == pb && slices.Equal(a.Services, b.Services) &&
		a.Open == b.Open && a.Uses == b.Uses
}

// checkKeyError fails unless err names the key file, keeps to the one form of a syntax error, and
// does not quote the secret that the file's secret setting holds.
// keyLikeRuns finds runs of base32 text that contain a digit: what a quoted key looks like.
var keyLikeRuns = regexp.MustCompile(`[A-Z2-7]*[2-7][A-Z2-7]*`)

func checkKeyError(t *testing.T, data string, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "key file "+fuzzKeyPath) {
		t.Fatalf("%q: error %q does not name the key file", data, msg)
	}
	var m map[string]any
	if _, derr := toml.Decode(data, &m); derr != nil {
		// Not TOML: the error must quote no part of a key-like run (base32 with a digit) in the
		// value of a secret line, unless the same text is also on another line (the
		// value of another setting may be quoted as that).
		var secretLines, otherLines []string
		for _, line := range strings.Split(strings.ToUpper(data), "\n") {
			if name, value, ok := strings.Cut(line, "="); ok && strings.Trim(name, " \t\"'") == "SECRET" {
				secretLines = append(secretLines, value)
			} else {
				otherLines = append(otherLines, line)
			}
		}
		others, upper := strings.Join(otherLines, "\n"), strings.ToUpper(msg)
		for _, run := range keyLikeRuns.FindAllString(strings.Join(secretLines, "\n"), -1) {
			for i := 0; i+8 <= len(run); i++ {
				if w := run[i : i+8]; strings.Contains(upper, w) && !strings.Contains(others, w) {
					t.Fatalf("%q: not TOML, and the error %q quotes %q of the secret", data, msg, w)
				}
			}
		}
		return
	}
	secret, ok := m["secret"].(string)
	if !ok {
		return
	}
	delete(m, "secret")
	// Text of the secret that is also the value of another setting may be quoted as that.
	others := fmtValues(m)
	for _, chunk := range secretChunks(secret) {
		if strings.Contains(others, chunk) {
			return
		}
	}
	for _, chunk := range secretChunks(secret) {
		if strings.Contains(strings.ToUpper(msg), chunk) {
			t.Fatalf("%q: error %q quotes the secret", data, msg)
		}
	}
}

// secretChunks returns the 8-character pieces of a secret's text as psk.Parse reads it
// (upper case, no blanks), or none for text too short to be worth hiding.
func secretChunks(s string) []string {
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, strings.ToUpper(s))
	var out []string
	for i := 0; i+8 <= len(clean); i++ {
		out = append(out, clean[i:i+8])
	}
	return out
}

// fmtValues is every key and value of a decoded TOML document as one upper-case string.
func fmtValues(m map[string]any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				b.WriteString(strings.ToUpper(k) + "\n")
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case []map[string]any:
			for _, x := range v {
				walk(x)
			}
		case string:
			b.WriteString(strings.ToUpper(v) + "\n")
		case time.Time, time.Duration:
		default:
		}
	}
	walk(m)
	return b.String()
}

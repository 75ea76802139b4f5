package config

import (
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hideyourports/hyp/core/sequence"
)

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
	return p
}

func TestDefaultTOMLParsesToDefault(t *testing.T) {
	got, err := parse([]byte(DefaultTOML()), "default")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("DefaultTOML decodes to\n%+v\nDefault() is\n%+v", got, Default())
	}
	// Every setting is spelled out in the default file, not left implicit.
	var m map[string]any
	if _, err := toml.Decode(DefaultTOML(), &m); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("toml")
		if _, ok := m[tag]; !ok {
			t.Errorf("DefaultTOML does not set %s", tag)
		}
		if !strings.Contains(DefaultTOML(), "\n\n# ") {
			t.Error("DefaultTOML has no comments")
		}
	}
	if len(m) != typ.NumField() {
		t.Errorf("DefaultTOML sets %d keys, Config has %d fields", len(m), typ.NumField())
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default() is not valid: %v", err)
	}
}

func validConfig() Config {
	c := Default()
	c.Interfaces = []string{"eth0"}
	c.Services = []protected.Service{{Proto: "tcp", Port: 22}}
	return c
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "hypd.toml", `
interfaces = ["eth0", "wg0"]
keys_dir = "keys"
services = ["tcp/22", "UDP/51820"]
open = "90s"
scheme = "HYP"
state_dir = "/var/lib/hyp-test"
stealth = true
public = ["tcp/443"]
skew = 2
uses = 3
knock_timeout = "2s"
log_level = "debug"
`, 0o644)
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Interfaces:   []string{"eth0", "wg0"},
		KeysDir:      filepath.Join(dir, "keys"),
		Services:     []protected.Service{{Proto: "tcp", Port: 22}, {Proto: "udp", Port: 51820}},
		Open:         90 * time.Second,
		Scheme:       sequence.Hyp,
		StateDir:     "/var/lib/hyp-test",
		Stealth:      true,
		Public:       []protected.Service{{Proto: "tcp", Port: 443}},
		Skew:         2,
		Uses:         3,
		KnockTimeout: 2 * time.Second,
		LogLevel:     "debug",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
	}

	// A minimal file keeps the defaults for everything else.
	p = writeFile(t, dir, "min.toml", "interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\n", 0o644)
	got, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, validConfig()) {
		t.Errorf("minimal file: %+v", got)
	}
}

func TestLoadErrorsNameFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"unknown key", "interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\nstelth = true\n",
			[]string{`unknown-key.toml:3: unknown key "stelth"`}},
		{"unknown table", "interfaces = [\"eth0\"]\n\n[extra]\nx = 1\n",
			[]string{`unknown-table.toml:3: unknown key "extra"`}},
		{"syntax", "interfaces = [\"eth0\"\nservices = 1\n",
			[]string{`syntax.toml:2:`}},
		{"bad service", "interfaces = [\"eth0\"]\n\nservices = [\"tcp/22\", \"icmp/8\"]\n",
			[]string{`bad-service.toml:3: services: service "icmp/8": protocol must be tcp or udp`}},
		{"bad duration", "open = \"5 minutes\"\n",
			[]string{`bad-duration.toml:1: open:`}},
		{"wrong type", "stealth = \"yes\"\n",
			[]string{`wrong-type.toml:1: stealth:`}},
		{"out of range", "interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\nskew = 11\nuses = 0\nopen = \"0s\"\n",
			[]string{
				"out-of-range.toml:3: skew: must be 0..10 time steps, got 11",
				"out-of-range.toml:4: uses: must be 1..1024, got 0",
				"out-of-range.toml:5: open: must be 1s..24h0m0s, got 0s",
			}},
		{"log level", "# comment\nlog_level = \"loud\"\nkeys_dir = \"\"\n",
			[]string{
				`log-level.toml:2: log_level: must be debug, info, warn or error, got "loud"`,
				`log-level.toml:3: keys_dir: "" is not an absolute path`,
			}},
		{"public overlaps", "interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\npublic = [\"tcp/22\"]\n",
			[]string{"public-overlaps.toml:3: public: tcp/22 is also in services"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".toml", tc.content, 0o644)
			_, err := Load(p)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "absent.toml")); err == nil || !strings.Contains(err.Error(), "absent.toml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidateNamesField(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"interfaces", func(c *Config) { c.Interfaces = []string{"eth0", "eth0"} }},
		{"interfaces", func(c *Config) { c.Interfaces = []string{"averyveryverylongname"} }},
		{"keys_dir", func(c *Config) { c.KeysDir = "keys" }},
		{"state_dir", func(c *Config) { c.StateDir = "" }},
		{"services", func(c *Config) { c.Services = append(c.Services, c.Services[0]) }},
		{"services", func(c *Config) { c.Services = []protected.Service{{Proto: "tcp"}} }},
		{"open", func(c *Config) { c.Open = 25 * time.Hour }},
		{"scheme", func(c *Config) { c.Scheme = "v4" }},
		{"skew", func(c *Config) { c.Skew = -1 }},
		{"uses", func(c *Config) { c.Uses = 2000 }},
		{"knock_timeout", func(c *Config) { c.KnockTimeout = 0 }},
		{"log_level", func(c *Config) { c.LogLevel = "" }},
	} {
		c := validConfig()
		tc.mod(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: Validate() = %v, want a FieldError for it", tc.field, err)
		} else if !strings.HasPrefix(err.Error(), tc.field+": ") {
			t.Errorf("%s: message %q does not start with the field", tc.field, err)
		}
	}
}

package config

import (
	"os"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/sequence"
)

func TestRealmInConfig(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "hypd.toml", "interfaces = [\"eth0\"]\nscheme = \"v3\"\nrealm = \"zürich\"\n", 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != "zürich" || c.Scheme != sequence.V3 {
		t.Errorf("realm %q scheme %q; want zürich, v3", c.Realm, c.Scheme)
	}
	if got := c.KeyDefaults(); got != sequence.V3Defaults("zürich") {
		t.Errorf("KeyDefaults = %+v", got)
	}
	// A realm no URI could carry (a control character, too long) names file, line and field.
	for name, content := range map[string]string{
		"control": "# a gateway\nrealm = \"a\\u0007b\"\n",
		"long":    "# a gateway\nrealm = \"" + strings.Repeat("x", sequence.MaxRealm+1) + "\"\n",
	} {
		p := writeFile(t, dir, name+".toml", content, 0o644)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), name+".toml:2: realm: ") {
			t.Errorf("%s: Load = %v; want an error at %s.toml:2 naming realm", name, err, name)
		}
	}
}

// At a gateway with a realm only v3 keys load: a v2 or hyp key file (a plain one under the
// default scheme v2 included) would let a knock made for any gateway holding the same key open
// this one. Each is refused by name, saying why and what to do; the others load.
func TestRealmGatewayLoadsOnlyV3Keys(t *testing.T) {
	dir := t.TempDir()
	_, plain := referenceKey(t)
	writeFile(t, dir, "plain", plain, 0o600)
	writeFile(t, dir, "old.toml", "secret = \""+newSecret(t).Encode()+"\"\nscheme = \"v2\"\n", 0o600)
	writeFile(t, dir, "ref.toml", "secret = \""+newSecret(t).Encode()+"\"\nscheme = \"hyp\"\n", 0o600)
	writeFile(t, dir, "new.toml", "secret = \""+newSecret(t).Encode()+"\"\nscheme = \"v3\"\n", 0o600)
	writeFile(t, dir, "moved.toml", "secret = \""+newSecret(t).Encode()+"\"\nscheme = \"v3\"\nrealm = \"gw1.example.com\"\n", 0o600)

	c := daemonDefaults()
	c.Realm = "office"
	keys, problems := LoadKeys(dir, c)
	if got := strings.Join(names(keys), ","); got != "moved,new" {
		t.Errorf("loaded %s; want moved,new", got)
	}
	for _, k := range keys {
		want := map[string]string{"new": "office", "moved": "gw1.example.com"}[k.Name]
		if k.Params.Scheme != sequence.V3 || k.Params.Realm != want {
			t.Errorf("key %s: scheme %s realm %q; want v3 realm %q", k.Name, k.Params.Scheme, k.Params.Realm, want)
		}
	}
	if len(problems) != 3 {
		t.Fatalf("problems = %v; want three", problems)
	}
	for _, p := range problems {
		msg := p.Error()
		named := ""
		for _, n := range []string{"plain", "old.toml", "ref.toml"} {
			if strings.Contains(msg, dir+"/"+n+":") {
				named = n
			}
		}
		if named == "" {
			t.Errorf("problem names no refused file: %s", msg)
			continue
		}
		for _, w := range []string{`realm "office"`, "loads only v3 keys", "refused", `scheme = "v3"`, "scheme=v3&realm=office"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: problem %q lacks %q", named, msg, w)
			}
		}
		if named == "plain" && !strings.Contains(msg, "in hypd.toml") {
			t.Errorf("plain key file: %q does not point at hypd.toml's scheme", msg)
		}
	}

	// The same gateway with scheme v3: the plain file is a v3 key of the gateway's realm.
	c.Scheme = sequence.V3
	keys, problems = LoadKeys(dir, c)
	if got := strings.Join(names(keys), ","); got != "moved,new,plain" {
		t.Errorf("scheme v3: loaded %s (problems %v); want moved,new,plain", got, problems)
	}
	for _, k := range keys {
		if k.Name == "plain" && k.Params != sequence.V3Defaults("office") {
			t.Errorf("plain key at a v3 gateway: %+v", k.Params)
		}
	}
}

// A gateway without a realm is the gateway of old: v2, hyp and v3 keys all load, a v3 key with
// its own realm or the empty one.
func TestNoRealmGatewayLoadsEveryScheme(t *testing.T) {
	dir := t.TempDir()
	_, plain := referenceKey(t)
	writeFile(t, dir, "plain", plain, 0o600)
	writeFile(t, dir, "ref.toml", "secret = \""+newSecret(t).Encode()+"\"\nscheme = \"hyp\"\n", 0o600)
	writeFile(t, dir, "new.toml", "secret = \""+newSecret(t).Encode()+"\"\nscheme = \"v3\"\n", 0o600)
	writeFile(t, dir, "site.toml", "secret = \""+newSecret(t).Encode()+"\"\nscheme = \"v3\"\nrealm = \"b\"\n", 0o600)
	keys, problems := LoadKeys(dir, daemonDefaults())
	if len(problems) != 0 || len(keys) != 4 {
		t.Fatalf("keys %v problems %v", names(keys), problems)
	}
	want := map[string]sequence.Params{"plain": sequence.Defaults(), "ref": sequence.HypDefaults(), "new": sequence.V3Defaults(""), "site": sequence.V3Defaults("b")}
	for _, k := range keys {
		if k.Params != want[k.Name] {
			t.Errorf("%s: %+v; want %+v", k.Name, k.Params, want[k.Name])
		}
	}
}

// A realm in a key file of another scheme is a mistake the file's line shows.
func TestKeyFileRealmNeedsV3(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "k.toml", "secret = \""+newSecret(t).Encode()+"\"\n\nrealm = \"office\"\n", 0o600)
	_, problems := LoadKeys(dir, daemonDefaults())
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "k.toml:3: realm: needs scheme v3 (the scheme is v2)") {
		t.Errorf("problems = %v", problems)
	}
}

// WriteKeyFile writes a v3 key's realm only when it has one, so a file written without one
// takes the realm of each gateway that loads it (one key set for a fleet).
func TestWriteKeyFileV3(t *testing.T) {
	dir := t.TempDir()
	s := newSecret(t)
	path, err := WriteKeyFile(dir, "fleet", Key{Secret: s, Params: sequence.V3Defaults("")}, false)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "realm") || !strings.Contains(string(data), `scheme = "v3"`) || strings.Contains(string(data), "length") {
		t.Errorf("realm-less v3 key file:\n%s", data)
	}
	for _, realm := range []string{"a", "b"} {
		c := daemonDefaults()
		c.Realm = realm
		k, err := loadKey(path, c)
		if err != nil || k.Params != sequence.V3Defaults(realm) {
			t.Errorf("at realm %s: %+v, %v", realm, k.Params, err)
		}
	}
	p := sequence.V3Defaults("東京-1")
	p.Length = 3
	path, err = WriteKeyFile(dir, "tokyo", Key{Secret: newSecret(t), Params: p}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := daemonDefaults()
	c.Realm = "elsewhere"
	k, err := loadKey(path, c)
	if err != nil || k.Params != p {
		t.Errorf("key file with its own realm: %+v, %v; want %+v", k.Params, err, p)
	}
}

package config

import (
	"strings"
	"testing"
)

// A key file may set its own realm (issue #22), but at a gateway of another realm that is easy
// to miss: the loaded key says so, naming both realms; a key that takes the gateway's realm,
// or names the same one, has nothing to say.
func TestKeyFileRealmOtherThanTheGatewaysIsNoted(t *testing.T) {
	dir := t.TempDir()
	secret := func() string { return "secret = \"" + newSecret(t).Encode() + "\"\nscheme = \"v3\"\n" }
	writeFile(t, dir, "own.toml", secret(), 0o600)
	writeFile(t, dir, "same.toml", secret()+"realm = \"a\"\n", 0o600)
	writeFile(t, dir, "other.toml", secret()+"realm = \"b\"\n", 0o600)
	writeFile(t, dir, "none.toml", secret()+"realm = \"\"\n", 0o600)
	c := daemonDefaults()
	c.Realm = "a"
	keys, problems := LoadKeys(dir, c)
	if len(problems) != 0 || len(keys) != 4 {
		t.Fatalf("loaded %d keys, problems %v; want 4 and none (a key file may set its realm)", len(keys), problems)
	}
	for _, k := range keys {
		switch k.Name {
		case "own", "same":
			if k.RealmWarning != "" {
				t.Errorf("%s (realm %q at gateway realm a): warning %q; want none", k.Name, k.Params.Realm, k.RealmWarning)
			}
		case "other", "none":
			for _, want := range []string{k.Path, `realm "` + k.Params.Realm + `"`, `realm "a"`} {
				if !strings.Contains(k.RealmWarning, want) {
					t.Errorf("%s: warning %q does not say %s", k.Name, k.RealmWarning, want)
				}
			}
		}
	}
}

package keyfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/keyfile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

const secret = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"

func TestParseTOMLForms(t *testing.T) {
	want, _ := psk.Parse(secret)
	for _, c := range []struct{ name, text string }{
		{"written by hypd secret new", "secret = \"" + secret + "\"\nscheme = \"v2\"\nlength = 4\nstep = 30\nlow = 1024\nhigh = 65535\nservices = [\"tcp/2222\"]\n"},
		{"comments, literal string, CRLF", "# bob's laptop\r\nsecret = '" + strings.ToLower(secret) + "' # lower case\r\n\r\nservices = [ \"tcp/22\" , 'udp/51820', ] # trailing comma\r\n"},
		{"array over lines, BOM, escapes", "\uFEFFsecret = \"" + secret[:1] + "\\u0041" + secret[2:] + "\"\nservices = [\n  \"tcp/22\", # ssh\n  \"tcp/443\",\n]\nuses = 1_0\n"},
		{"quoted names", "\"secret\" = \"" + secret + "\"\n'open' = \"90s\"\n"},
	} {
		kf, err := keyfile.ParseTOML([]byte(c.text))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !kf.Secret.Equal(want) || !kf.TOML {
			t.Errorf("%s: wrong secret", c.name)
		}
		if !keyfile.LooksTOML([]byte(c.text)) {
			t.Errorf("%s: LooksTOML is false", c.name)
		}
	}
	kf, err := keyfile.ParseTOML([]byte("secret = \"" + secret + "\"\nservices = [\n  \"udp/51820\",\n  \"tcp/22\",\n]\nuses = 1_0\nlength = 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok, err := kf.Int("uses"); n != 10 || !ok || err != nil {
		t.Errorf("uses = %d %v %v", n, ok, err)
	}
	if l, ok, err := kf.Strings("services", "a list"); len(l) != 2 || l[1] != "tcp/22" || !ok || err != nil || kf.Line("services") != 2 {
		t.Errorf("services = %q %v %v line %d", l, ok, err, kf.Line("services"))
	}
	if kf.CheckPort() != 22 {
		t.Errorf("CheckPort = %d, want the first TCP service's 22", kf.CheckPort())
	}
	if p, err := kf.Params(sequence.Defaults()); err != nil || p.Length != 5 || p.Step != 30 {
		t.Errorf("Params = %+v %v", p, err)
	}
	if p, err := kf.Params(sequence.HypDefaults()); err == nil {
		t.Errorf("length 5 under the default scheme hyp: %+v accepted", p)
	}
}

// Errors name the line and setting, and never show the secret or a value.
func TestParseTOMLErrors(t *testing.T) {
	s := `secret = "` + secret + `"` + "\n"
	for _, c := range []struct{ name, text, want string }{
		{"unknown", s + "lenght = 5\n", `line 2: unknown key "lenght"`},
		{"missing", "scheme = \"v2\"\n", "secret: missing"},
		{"secret type", "secret = 5\n", "line 1: secret: must be a base32 string"},
		{"short", "secret = \"AAAA\"\n", "line 1: secret: key is 2 bytes"},
		{"unquoted", "scheme = \"v2\"\nsecret = " + secret + "\n", "line 2: not valid TOML at column 10"},
		{"unterminated", "secret = \"" + secret + "\n", "line 1: not valid TOML"},
		{"twice", s + s, "line 2: secret: given twice"},
		{"table", s + "[extra]\nx = 1\n", "line 2: a [table] has no place"},
		{"dotted", s + "a.b = 1\n", `line 2: unknown key "a.b"`},
		{"junk after", s + "uses = 1 2\n", "line 2: not valid TOML at column 10"},
		{"multi-line string", "secret = \"\"\"" + secret + "\"\"\"\n", "line 1: not valid TOML"},
		{"inline table", s + "open = { a = 1 }\n", "line 2: not valid TOML"},
		{"bad escape", "secret = \"\\q" + secret + "\"\n", "line 1: not valid TOML at column 11"},
	} {
		_, err := keyfile.ParseTOML([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), secret[:12]) {
			t.Errorf("%s: the error shows the secret", c.name)
		}
	}
	kf, _ := keyfile.ParseTOML([]byte(s + "length = \"4\"\nservices = \"tcp/22\"\n"))
	if _, err := kf.Params(sequence.Defaults()); err == nil || err.Error() != "line 2: length: must be an integer" {
		t.Errorf("a quoted length: %v", err)
	}
	if _, _, err := kf.Strings("services", `a list such as ["tcp/22"]`); err == nil || !strings.Contains(err.Error(), "line 3: services: must be a list") {
		t.Errorf("services as a string: %v", err)
	}
	if err := keyfile.In("/k.toml", &keyfile.Error{Line: 3, Field: "open", Msg: "bad"}); err.Error() != "key file /k.toml:3: open: bad" {
		t.Errorf("In = %q", err)
	}
}

func TestLooksTOML(t *testing.T) {
	for _, c := range []struct {
		text string
		toml bool
	}{
		{secret + "\n", false},
		{"MZXW6YTBOI======\n", false}, // padding is not a setting
		{strings.ToLower(secret[:26]) + "\n" + secret[26:] + "\n", false},
		{"secret = \"" + secret + "\"\n", true},
		{"# a comment\n\nsecret=\"" + secret + "\"", true},
	} {
		if got := keyfile.LooksTOML([]byte(c.text)); got != c.toml {
			t.Errorf("LooksTOML(%.20q…) = %v", c.text, got)
		}
	}
}

// ReadFile takes either form, by extension or by content, and names the
// file and line in its errors.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	want, _ := psk.Parse(secret)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, p := range []string{
		write("bob.toml", "secret = \""+secret+"\"\nservices = [\"tcp/2222\"]\n"),
		write("bob.key", secret+"\n"),
		write("bob", "secret = \""+secret+"\"\n"), // TOML without the extension
	} {
		kf, err := keyfile.ReadFile(p)
		if err != nil || !kf.Secret.Equal(want) {
			t.Errorf("ReadFile(%s): %v", p, err)
		}
	}
	bad := write("bad.toml", "secret = \""+secret+"\"\nscheme = \"v9\"\n")
	kf, err := keyfile.ReadFile(bad)
	if err == nil {
		_, err = kf.Params(sequence.Defaults())
		err = keyfile.In(bad, err)
	}
	if err == nil || !strings.Contains(err.Error(), bad+":2: scheme: unknown scheme") {
		t.Errorf("a bad scheme: %v", err)
	}
	if _, err := keyfile.ReadFile(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

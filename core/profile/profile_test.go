package profile_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

const secret = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"

func mustKey(t testing.TB) psk.Key {
	k, err := psk.Parse(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParse(t *testing.T) {
	k := mustKey(t)
	d := sequence.Defaults()
	cases := []struct {
		uri  string
		want profile.Profile
	}{
		{"hyp://gw.example.com?secret=" + secret, profile.Profile{Host: "gw.example.com", Key: k, Params: d}},
		{"HYP://GW.Example.com/?secret=" + strings.ToLower(secret), profile.Profile{Host: "gw.example.com", Key: k, Params: d}},
		{"hyp://203.0.113.7?secret=" + secret + "&check=tcp/22&name=Home%20gateway",
			profile.Profile{Name: "Home gateway", Host: "203.0.113.7", Key: k, Params: d, CheckPort: 22}},
		{"hyp://[2001:db8::1]?secret=" + secret + "&length=8&step=60&low=2000&high=3000&scheme=v2",
			profile.Profile{Host: "2001:db8::1", Key: k, Params: sequence.Params{Scheme: sequence.V2, Length: 8, Step: 60, Low: 2000, High: 3000}}},
		{"hyp://[fe80::1%25eth0]?secret=" + secret, profile.Profile{Host: "fe80::1%eth0", Key: k, Params: d}},
		{"hyp://gw?scheme=hyp&secret=" + secret, profile.Profile{Host: "gw", Key: k, Params: sequence.HypDefaults()}},
		{"hyp://gw?scheme=HYP&length=4&step=30&secret=" + secret, profile.Profile{Host: "gw", Key: k, Params: sequence.HypDefaults()}},
		{"  hyp://gw.?name=a+b&secret=" + secret + "\n", profile.Profile{Name: "a b", Host: "gw.", Key: k, Params: d}},
	}
	for _, c := range cases {
		got, warnings, err := profile.Parse(c.uri)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.uri, err)
			continue
		}
		if len(warnings) != 0 {
			t.Errorf("Parse(%q): warnings %q", c.uri, warnings)
		}
		if !equal(got, c.want) {
			t.Errorf("Parse(%q) = %v, want %v", c.uri, got, c.want)
		}
	}
}

func equal(a, b profile.Profile) bool {
	return a.Name == b.Name && a.Host == b.Host && a.Key.Equal(b.Key) && a.Params == b.Params && a.CheckPort == b.CheckPort
}

func TestParseErrors(t *testing.T) {
	s := "secret=" + secret
	cases := map[string]string{
		"http://gw?" + s:                          "must start with hyp://",
		"hyp://?" + s:                             "host: missing",
		"hyp://gw:22?" + s:                        "port is not allowed",
		"hyp://2001:db8::1?" + s:                  "brackets",
		"hyp://[2001:db8::1]:5?" + s:              "port is not allowed",
		"hyp://[203.0.113.1]?" + s:                "not an IPv6 address",
		"hyp://[2001:db8::1?" + s:                 "missing ]",
		"hyp://user@gw?" + s:                      "user info",
		"hyp://gw/path?" + s:                      "path",
		"hyp://bad_host!?" + s:                    "not a DNS name",
		"hyp://-gw?" + s:                          "not a DNS name",
		"hyp://300.1.1.1?" + s:                    "not a DNS name or IPv4",
		"hyp://gw":                                `parameter "secret": missing`,
		"hyp://gw?secret=":                        `parameter "secret": key is empty`,
		"hyp://gw?secret=ABCD":                    `parameter "secret": key is 2 bytes`,
		"hyp://gw?" + s + "&length=40":            `parameter "length": must be 2..32, got 40`,
		"hyp://gw?" + s + "&length=x":             `parameter "length": must be a whole number, got "x"`,
		"hyp://gw?" + s + "&step=0":               `parameter "step": must be 1..3600 seconds, got 0`,
		"hyp://gw?" + s + "&low=0":                `parameter "low": must be a port 1..65535, got 0`,
		"hyp://gw?" + s + "&high=70000":           `parameter "high": must be a port 1..65535, got 70000`,
		"hyp://gw?" + s + "&low=5000&high=4000":   `parameter "high": must not be below low (5000), got 4000`,
		"hyp://gw?" + s + "&scheme=v4":            `parameter "scheme": unknown scheme "v4" (want v2, v3 or hyp)`,
		"hyp://gw?" + s + "&realm=a":              `parameter "realm": needs scheme v3 (the scheme is v2)`,
		"hyp://gw?" + s + "&scheme=v3&realm=a%0A": `parameter "realm": realm has a control character at byte 1`,
		"hyp://gw?" + s + "&scheme=v3&length=9":   `parameter "length": must be 1..8 for scheme v3, got 9`,
		"hyp://gw?" + s + "&scheme=hyp&length=8":  `parameter "length": must be 4 for scheme hyp, got 8`,
		"hyp://gw?" + s + "&scheme=hyp&step=60":   `parameter "step": must be 30 for scheme hyp, got 60`,
		"hyp://gw?" + s + "&check=udp/22":         `parameter "check": must be tcp/PORT, got "udp/22"`,
		"hyp://gw?" + s + "&check=tcp/0":          `parameter "check": port must be 1..65535, got "0"`,
		"hyp://gw?" + s + "&check=tcp/99999":      `parameter "check": port must be 1..65535`,
		"hyp://gw?" + s + "&name=%01":             `parameter "name": contains a control character`,
		"hyp://gw?" + s + "&name=%zz":             `parameter "name": bad %-escape`,
		"hyp://gw?" + s + "&" + s:                 `parameter "secret": given twice`,
	}
	for uri, want := range cases {
		_, _, err := profile.Parse(uri)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %q", uri, want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "profile URI: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q):\n got %q\nwant %q", uri, err, want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Parse(%q): error contains the secret: %q", uri, err)
		}
	}
}

func TestBadSecretNotInError(t *testing.T) {
	for _, bad := range []string{secret[:40] + "1" + secret[41:], secret + "AA", "%41" + secret[:20]} {
		_, _, err := profile.Parse("hyp://gw?secret=" + bad)
		if err == nil {
			t.Fatalf("secret %q accepted", bad)
		}
		if strings.Contains(err.Error(), secret[:16]) || strings.Contains(err.Error(), bad) {
			t.Errorf("error %q contains the secret", err)
		}
	}
}

func TestWarnings(t *testing.T) {
	_, w, err := profile.Parse("hyp://gw?secret=" + secret + "&zeta=1&alpha=2#frag")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fragment (#...) ignored", `unknown parameter "alpha" ignored`, `unknown parameter "zeta" ignored`}
	if !slices.Equal(w, want) {
		t.Errorf("warnings %q, want %q", w, want)
	}
	p, w, err := profile.Parse("hyp://gw?scheme=hyp&low=2000&secret=" + secret)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], `"low" ignored`) || p.Params != sequence.HypDefaults() {
		t.Errorf("hyp with low: %v %q %v", p, w, err)
	}
}

func TestRoundTrip(t *testing.T) {
	k := mustKey(t)
	profiles := []profile.Profile{
		{Host: "gw.example.com", Key: k, Params: sequence.Defaults()},
		{Name: "Büro & Co = 100%", Host: "10.0.0.1", Key: k, Params: sequence.Params{Scheme: sequence.V2, Length: 32, Step: 10, Low: 1, High: 65535}, CheckPort: 443},
		{Host: "2001:db8::5", Key: k, Params: sequence.HypDefaults(), CheckPort: 22},
		{Host: "fe80::1%eth0", Key: k, Params: sequence.Defaults()},
	}
	for _, p := range profiles {
		uri := p.URI()
		got, w, err := profile.Parse(uri)
		if err != nil || len(w) != 0 {
			t.Errorf("Parse(URI() of %v) = %v, %q", p, err, w)
			continue
		}
		if !equal(got, p) {
			t.Errorf("round trip of %v gave %v", p, got)
		}
		if got.URI() != uri {
			t.Errorf("URI not stable: %q then %q", uri, got.URI())
		}
	}
	if got := profiles[0].URI(); got != "hyp://gw.example.com?secret="+secret+"&kc="+k.Check() {
		t.Errorf("default URI %q", got)
	}
	if got := profiles[2].URI(); got != "hyp://[2001:db8::5]?secret="+secret+"&kc="+k.Check()+"&scheme=hyp&check=tcp/22" {
		t.Errorf("hyp URI %q", got)
	}
}

func TestStringRedacts(t *testing.T) {
	p, _, err := profile.Parse("hyp://gw?secret=" + secret + "&check=tcp/22")
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{p.String(), fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprintf("%v", &p), fmt.Sprintf("%s", []profile.Profile{p})} {
		if strings.Contains(out, secret) || strings.Contains(out, secret[:16]) {
			t.Errorf("%q leaks the secret", out)
		}
	}
	if p.String() != "hyp://gw?secret=REDACTED&check=tcp/22" {
		t.Errorf("String() = %q", p.String())
	}
}

func TestParseCheck(t *testing.T) {
	if port, err := profile.ParseCheck("TCP/8443"); err != nil || port != 8443 {
		t.Errorf("ParseCheck: %d %v", port, err)
	}
	for _, bad := range []string{"", "22", "tcp/", "tcp/-1", "udp/53", "tcp/65536"} {
		if _, err := profile.ParseCheck(bad); err == nil {
			t.Errorf("ParseCheck(%q) accepted", bad)
		}
	}
}

// vectorURIs builds one URI per vector case, so the fuzzer starts from
// every parameter combination the protocol pins down.
func vectorURIs(t testing.TB) []string {
	var uris []string
	for _, name := range []string{"knock-v2.json", "knock-hyp.json"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Scheme string
			Cases  []struct {
				Secret                  string
				Step, Length, Low, High int
			}
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		for _, c := range v.Cases {
			u := "hyp://gw.example.com?secret=" + c.Secret + "&scheme=" + v.Scheme
			if v.Scheme == "v2" {
				u += fmt.Sprintf("&length=%d&step=%d&low=%d&high=%d", c.Length, c.Step, c.Low, c.High)
			}
			uris = append(uris, u)
		}
	}
	return uris
}

func FuzzParse(f *testing.F) {
	for _, u := range vectorURIs(f) {
		f.Add(u)
	}
	for _, u := range []string{"hyp://[::1]?secret=" + secret + "&check=tcp/22&name=x", "hyp://", "hyp://gw?secret=%", "hyp://[", "hyp://a?&&=&secret"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		p, _, err := profile.Parse(uri)
		if err != nil {
			return
		}
		if p.Key.IsZero() || p.Params.Validate() != nil || p.Host == "" {
			t.Fatalf("accepted invalid profile %v", p)
		}
		again, w, err := profile.Parse(p.URI())
		if err != nil || len(w) != 0 || !equal(again, p) {
			t.Fatalf("URI() of %v does not parse back: %v %q %v", p, err, w, again)
		}
		if strings.Contains(p.String(), p.Key.Encode()) {
			t.Fatal("String leaks the secret")
		}
	})
}

package profile_test

import (
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/profile"
)

// FuzzParseHidesSecret puts a valid secret in the secret parameter of an otherwise arbitrary URI:
// whatever is wrong with the rest, the error names the profile URI and never quotes the secret,
// and a URI that parses carries exactly that secret. (FuzzParse, in profile_test.go, checks the
// round trip through URI.)
func FuzzParseHidesSecret(f *testing.F) {
	for _, c := range [][3]string{
		{"gw", "", ""},
		{"gw:22", "", ""},
		{"[::1", "name=x&", "check=udp/1"},
		{"gw", "scheme=v3&", ""},
		{"gw", "", "length=99"},
		{"gw", "", "secret=AAAA"},
		{"gw", "low=%", ""},
		{"", "", ""},
		{"gw/x", "", ""},
		{"gw", "", "name=%01"},
	} {
		f.Add(c[0], c[1], c[2])
	}
	f.Fuzz(func(t *testing.T, host, before, after string) {
		if strings.Contains(host, "?") {
			// The query then starts inside the host part, and the "secret=" written below is
			// the end of another parameter's name ("?secret"): the URI's secret is whatever a
			// later secret= says, so there is no single secret to look for (seed d9221ae8ea5cb59e).
			return
		}
		if before != "" && !strings.HasSuffix(before, "&") {
			before += "&" // else the secret would be part of the value before it
		}
		for _, part := range []string{host, before, after} {
			// A part that spells out a piece of the secret itself may be quoted rightly.
			for i := 0; i+8 <= len(secret); i++ {
				if strings.Contains(strings.ToUpper(part), secret[i:i+8]) {
					return
				}
			}
		}
		uri := "hyp://" + host + "?" + before + "secret=" + secret + "&" + after
		p, _, err := profile.Parse(uri)
		if err == nil {
			if p.Key.Encode() != secret {
				t.Fatalf("Parse(%q) read the secret as another key", uri)
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "profile URI: ") {
			t.Fatalf("Parse(%q): error %q does not say it is about the profile URI", uri, err)
		}
		for i := 0; i+8 <= len(secret); i++ {
			if strings.Contains(strings.ToUpper(err.Error()), secret[i:i+8]) {
				t.Fatalf("Parse(%q): error %q quotes part of the secret", uri, err)
			}
		}
	})
}

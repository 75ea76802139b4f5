package profile_test

import (
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
)

// The URI carries the key's check; a key with one character appended (a
// valid key of its own) fails at parse time, and a URI without kc reads as
// before.
func TestKeyCheckInURI(t *testing.T) {
	k, _ := psk.Parse(secret)
	uri := profile.Profile{Host: "gw.example.com", Key: k, CheckPort: 22}.URI()
	if !strings.Contains(uri, "&kc="+k.Check()+"&") {
		t.Fatalf("URI %q lacks kc=%s", uri, k.Check())
	}
	typo := strings.Replace(uri, secret, secret+"A", 1)
	_, _, err := profile.Parse(typo)
	if err == nil || !strings.Contains(err.Error(), "the key does not match its check") || strings.Contains(err.Error(), secret) {
		t.Fatalf("a key with a character appended: %v", err)
	}
	if _, w, err := profile.Parse("hyp://gw.example.com?secret=" + secret + "&check=tcp/22"); err != nil || len(w) != 0 {
		t.Fatalf("a URI without kc: %v %q", err, w)
	}
	if _, _, err := profile.Parse("hyp://gw.example.com?secret=" + secret + "&kc=AB"); err == nil || !strings.Contains(err.Error(), `parameter "kc"`) {
		t.Fatalf("a damaged kc: %v", err)
	}
	if s := (profile.Profile{Host: "gw", Key: k}).String(); strings.Contains(s, "kc=") || strings.Contains(s, secret) {
		t.Fatalf("String() = %q", s)
	}
}

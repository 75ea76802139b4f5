package ui

import "testing"

func TestNativeText(t *testing.T) {
	for in, want := range map[string]string{
		"Knock & Connect: office":         "Knock && Connect: office",
		"office: ✗ Check tcp/22: timeout": "office: × Check tcp/22: timeout",
		"✓ Launched: started vpn":         "OK Launched: started vpn",
	} {
		if got := nativeText(in); got != want {
			t.Errorf("nativeText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := nativeNote("✓ Connected: A & B"); got != "OK Connected: A & B" {
		t.Errorf("nativeNote = %q", got)
	}
}

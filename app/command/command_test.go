package command

import (
	"slices"
	"testing"
)

func TestSplitJoin(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"wg-quick up office", []string{"wg-quick", "up", "office"}},
		{`"C:\Program Files\WireGuard\wireguard.exe" /installtunnelservice x.conf`,
			[]string{`C:\Program Files\WireGuard\wireguard.exe`, "/installtunnelservice", "x.conf"}},
		{`openvpn --config '/etc/my vpn.conf'`, []string{"openvpn", "--config", "/etc/my vpn.conf"}},
		{`a "" b`, []string{"a", "", "b"}},
	} {
		got, err := Split(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		back, err := Split(Join(got))
		if err != nil || !slices.Equal(back, c.want) {
			t.Errorf("round trip of %q: %q -> %q", c.in, Join(got), back)
		}
	}
	if _, err := Split(`a "b`); err == nil {
		t.Error("unclosed quote accepted")
	}
}

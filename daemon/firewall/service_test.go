package firewall

import (
	"github.com/hideyourports/hyp/daemon/protected"
	"strings"
	"testing"
)

func TestConfigNormalize(t *testing.T) {
	c, err := Config{}.normalize()
	if err != nil || c.Table != DefaultTable {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Table: strings.Repeat("x", 256)}, "Table"},
		{Config{Table: "a\x00b"}, "Table"},
		{Config{NetNS: -1}, "NetNS -1"},
		{Config{Protected: []protected.Service{{Proto: "sctp", Port: 1}}}, `Protected: service "sctp/1"`},
		{Config{Public: []protected.Service{{Proto: "tcp", Port: 0}}}, `Public: service "tcp/0"`},
		{Config{Protected: []protected.Service{{Proto: "tcp", Port: 22}}, Public: []protected.Service{{Proto: "tcp", Port: 22}}}, `"tcp/22" is both Public and Protected`},
	} {
		if _, err := tc.cfg.normalize(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
}

package gateway

import (
	"slices"
	"testing"

	"github.com/hideyourports/hyp/daemon/protected"
)

// A saved protection that makes a service public (one a refused hypd.toml pointed at, written by
// whoever could write that file) cannot un-hide a service another saved protection hides; a
// service stays public only where every saved protection agrees.
func TestPublicOfAllNeverUnhides(t *testing.T) {
	ssh := protected.Service{Proto: "tcp", Port: 22}
	web := protected.Service{Proto: "tcp", Port: 443}
	real := Protection{Protected: []protected.Service{ssh}, Public: []protected.Service{web}}
	planted := Protection{Public: []protected.Service{ssh, web}}
	for _, order := range [][]Protection{{real, planted}, {planted, real}} {
		if got := publicOfAll(order); !slices.Equal(got, []protected.Service{web}) {
			t.Errorf("public of %+v = %v, want only tcp/443", order, got)
		}
	}
	if got := publicOfAll([]Protection{planted}); !slices.Equal(got, []protected.Service{ssh, web}) {
		t.Errorf("one saved protection: %v", got)
	}
	if got := publicOfAll(nil); got != nil {
		t.Errorf("no saved protection: %v", got)
	}
}

package helperipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The hand-over's secret reaches the other end and nothing else: printed
// any way it shows "[redacted]", marshalled it is itself.
func TestSecretIsRedacted(t *testing.T) {
	const uri = "hyp://10.77.1.1?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"
	h := HandOver{Name: "office", URI: NewSecret(uri)}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, h); strings.Contains(s, "AAAQ") || !strings.Contains(s, "[redacted]") {
			t.Errorf("%s of a hand-over: %s", f, s)
		}
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back HandOver
	if err := json.Unmarshal(b, &back); err != nil || back.URI.Reveal() != uri {
		t.Fatalf("round trip: %s -> %+v %v", b, back, err)
	}
}

func TestRemoteErrorCodes(t *testing.T) {
	for _, c := range []struct {
		code string
		is   error
	}{{CodeDenied, ErrDenied}, {CodeNotFound, ErrNotFound}, {CodeVersion, ErrVersion}} {
		err := error(&RemoteError{Code: c.code, Message: "x"})
		if !errors.Is(err, c.is) || errors.Is(err, ErrNoHelper) {
			t.Errorf("code %s: Is(%v) false", c.code, c.is)
		}
	}
}

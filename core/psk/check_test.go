package psk_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/psk"
)

// TestCheckVectors reproduces every key check of core/testdata/key-check.json.
func TestCheckVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "key-check.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []struct{ Note, Secret, KC string }
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) < 5 {
		t.Fatalf("%d key check vectors, want at least 5", len(v.Cases))
	}
	seen := map[string]string{}
	for _, c := range v.Cases {
		k, err := psk.Parse(c.Secret)
		if err != nil {
			t.Fatalf("%s: %v", c.Note, err)
		}
		if got := k.Check(); got != c.KC {
			t.Errorf("%s: Check() = %q, want %q", c.Note, got, c.KC)
		}
		if err := k.VerifyCheck(strings.ToLower(c.KC)); err != nil {
			t.Errorf("%s: VerifyCheck(lower case) = %v", c.Note, err)
		}
		if prev, dup := seen[c.KC]; dup {
			t.Errorf("%s and %s have the same check", prev, c.Note)
		}
		seen[c.KC] = c.Note
	}
}

// A key with a character appended, changed or lost fails its check, and a
// damaged check is named as such rather than blamed on the key.
func TestVerifyCheck(t *testing.T) {
	const secret = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"
	k, _ := psk.Parse(secret)
	kc := k.Check()
	for _, typo := range []string{secret + "A", secret + "B", "B" + secret[1:], secret[:len(secret)-2] + "A"} {
		other, err := psk.Parse(typo)
		if err != nil {
			continue // the parser caught this one already
		}
		if err := other.VerifyCheck(kc); !errors.Is(err, psk.ErrCheckMismatch) {
			t.Errorf("a mistyped key against the check: %v, want ErrCheckMismatch", err)
		}
	}
	for _, bad := range []string{"", "ABC", "ABCDEFG", "ABC1EF"} {
		if err := k.VerifyCheck(bad); err == nil || errors.Is(err, psk.ErrCheckMismatch) || strings.Contains(err.Error(), secret) {
			t.Errorf("VerifyCheck(%q) = %v, want an error about the check itself", bad, err)
		}
	}
}

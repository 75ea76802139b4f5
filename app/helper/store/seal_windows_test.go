package store

import (
	"bytes"
	"strings"
	"testing"
)

// TestSeal: what the store writes is not the URI, decrypts to it, and a changed byte is
// refused rather than decrypted to something else.
func TestSeal(t *testing.T) {
	uri := []byte("hyp://192.0.2.7?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")
	s, err := seal(uri)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "AAAQEAYEAUDAOCAJ") {
		t.Fatal("the sealed text holds the key")
	}
	got, err := unseal(s)
	if err != nil || !bytes.Equal(got, uri) {
		t.Fatalf("unseal: %q, %v", got, err)
	}
	b := []byte(s)
	b[len(b)/2] ^= 1
	if got, err := unseal(string(b)); err == nil && bytes.Equal(got, uri) {
		t.Fatal("a changed sealed text still decrypted to the URI")
	} else if err == nil {
		t.Fatalf("a changed sealed text decrypted to %q", got)
	}
}

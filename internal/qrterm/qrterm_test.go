package qrterm

import (
	"strings"
	"testing"
	"unicode/utf8"

	"rsc.io/qr"
)

func TestWriteDrawsEveryModule(t *testing.T) {
	const text = "hyp://gw.example.net?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"
	var b strings.Builder
	if err := Write(&b, text); err != nil {
		t.Fatal(err)
	}
	code, _ := qr.Encode(text, qr.M)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	wantRows := (code.Size + 2*quiet + 1) / 2
	if len(lines) != wantRows {
		t.Fatalf("%d lines, want %d", len(lines), wantRows)
	}
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n != code.Size+2*quiet {
			t.Fatalf("line %d has %d cells, want %d", i, n, code.Size+2*quiet)
		}
	}
	// Decode the drawing back into modules and compare with the code.
	for y := 0; y < code.Size; y++ {
		row := []rune(lines[(y+quiet)/2])
		for x := 0; x < code.Size; x++ {
			c := row[x+quiet]
			top := (y+quiet)%2 == 0
			var light bool
			switch c {
			case '█':
				light = true
			case '▀':
				light = top
			case '▄':
				light = !top
			case ' ':
				light = false
			default:
				t.Fatalf("unexpected rune %q", c)
			}
			if light == code.Black(x, y) {
				t.Fatalf("module (%d,%d) drawn wrong", x, y)
			}
		}
	}
}

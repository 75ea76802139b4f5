// Package qrterm draws a QR code in a terminal with Unicode half blocks, two modules per
// character cell, so a profile URI can be carried to a phone or another machine by camera
// instead of through a clipboard or a file.
package qrterm

import (
	"fmt"
	"io"
	"strings"

	"rsc.io/qr"
)

// quiet is the white border the QR standard asks for, in modules.
const quiet = 2

// Write encodes text as a QR code (error correction level M) and draws it to w, dark modules as
// spaces on a light background so it scans on dark and light terminal themes alike.
func Write(w io.Writer, text string) error {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return fmt.Errorf("encoding QR code: %w", err)
	}
	size := code.Size
	light := func(x, y int) bool {
		if x < 0 || y < 0 || x >= size || y >= size {
			return true
		}
		return !code.Black(x, y)
	}
	var b strings.Builder
	for y := -quiet; y < size+quiet; y += 2 {
		for x := -quiet; x < size+quiet; x++ {
			top, bottom := light(x, y), light(x, y+1)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

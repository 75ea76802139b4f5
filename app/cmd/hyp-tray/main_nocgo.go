//go:build !cgo

package main

import (
	"fmt"
	"os"
)

// fyne draws with OpenGL through cgo; without cgo there is no tray app, but
// the package still builds so `CGO_ENABLED=0 go vet ./...` and
// `GOOS=windows go vet ./...` cover the rest of the tree.
func main() {
	fmt.Fprintln(os.Stderr, "hyp-tray: this build has no GUI: build it with CGO_ENABLED=1 (see README)")
	os.Exit(1)
}

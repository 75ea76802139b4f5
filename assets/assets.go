// Package assets carries hyp's icons into the binaries that show them, so the
// tray app needs no files next to it: the same bytes are used on Linux and
// Windows, where the tray takes PNG only.
//
// The SVG sources and how the PNGs are rendered from them are described in
// README.md in this directory.
package assets

import (
	"embed"
	"fmt"
)

// files is read-only: embed.FS has no way to change what was embedded.
//
//go:embed icon.png tray-idle.png tray-working.png tray-ok.png tray-failed.png
var files embed.FS

// Icon returns the application icon (PNG, 256x256).
func Icon() []byte { return mustRead("icon.png") }

// TrayIdle is the tray icon while nothing is happening (64x64 PNG).
func TrayIdle() []byte { return mustRead("tray-idle.png") }

// TrayWorking is the tray icon while a knock or a connection is under way.
func TrayWorking() []byte { return mustRead("tray-working.png") }

// TrayOK is the tray icon after the last knock succeeded.
func TrayOK() []byte { return mustRead("tray-ok.png") }

// TrayFailed is the tray icon after the last knock failed.
func TrayFailed() []byte { return mustRead("tray-failed.png") }

// mustRead reads a file embedded by the go:embed line above; the build fails
// if one is missing, so an error here cannot happen at run time.
func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("assets: %s was not embedded: %v", name, err))
	}
	return b
}

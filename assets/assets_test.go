package assets

import (
	"bytes"
	"image/png"
	"testing"
)

// The tray takes PNG on every platform (Windows cannot take SVG), so each
// embedded icon must decode as one, at the size the tray scales from.
func TestIconsArePNG(t *testing.T) {
	for name, b := range map[string][]byte{
		"icon": Icon(), "idle": TrayIdle(), "working": TrayWorking(), "ok": TrayOK(), "failed": TrayFailed(),
	} {
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if w := img.Bounds().Dx(); w < 64 {
			t.Errorf("%s: %d pixels wide, want at least 64", name, w)
		}
	}
}

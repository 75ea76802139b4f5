package ui

import "strings"

// nativeText makes text fit for what Windows itself draws (the tray's Win32 menu, toast
// notifications), which fyne's fonts do not: "&" marks a menu accelerator there, so a literal
// one is doubled; the ✓ and ✗ marks are missing from the menu font and show as boxes, so they
// become an ASCII "OK" and a Latin-1 "×".
func nativeText(s string) string {
	return strings.NewReplacer("&", "&&", "✓", "OK", "✗", "×").Replace(s)
}

// nativeNote is nativeText for a notification, whose text is no menu: "&" stays.
func nativeNote(s string) string {
	return strings.NewReplacer("✓", "OK", "✗", "×").Replace(s)
}

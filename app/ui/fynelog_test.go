package ui

import (
	"bytes"
	"log"
	"strings"
	"testing"
)

// Issue 21 item 7: Fyne's noise leaves one line of hyp's own; everything else passes.
func TestFyneLogDropsNoise(t *testing.T) {
	var out bytes.Buffer
	l := log.New(NewFyneLog(&out), "", 0)
	for range 3 {
		// As fyne.LogError writes a record.
		l.Println("Fyne error: ", "Preferences load error:")
		l.Println("  Cause:", "EOF")
		l.Printf("  At: %s:%d", "app/preferences.go", 103)
		l.Println("Fyne error: ", "Failed to send message to bus")
		l.Println("  Cause:", "org.freedesktop.DBus.Error.ServiceUnknown")
		l.Printf("  At: %s:%d", "app/app_xdg.go", 83)
	}
	l.Println("hyp-tray: office: knocked")
	l.Println("Fyne error: ", "something else")
	l.Println("  Cause:", "boom")
	got := out.String()
	for _, bad := range []string{"Preferences load error", "Cause: EOF", "ServiceUnknown", "app_xdg.go"} {
		if strings.Contains(got, bad) {
			t.Errorf("noise passed: %q in\n%s", bad, got)
		}
	}
	for _, want := range []string{"ignoring Fyne's preferences file", "no notification service", "office: knocked", "something else", "Cause: boom"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("want %q once in\n%s", want, got)
		}
	}
}

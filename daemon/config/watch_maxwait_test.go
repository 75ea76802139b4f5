//go:build linux

package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Events that never stop for the debounce still let a change through: a pending change is
// signalled at the latest maxWaitFactor debounces after its first event. Before the bound, a
// writer faster than the debounce kept a key's removal from ever being signalled (the third
// attacker review, with another user's writes into a sticky keys directory).
func TestWatchSignalsAChangeThoughEventsNeverStop(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	_ = stage(t, keys, "alice", "bob")
	const debounce = 100 * time.Millisecond
	w, err := watch(keys, debounce, time.Hour) // no safety check to stand in for the signal
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(debounce / 5):
			}
			_ = os.WriteFile(filepath.Join(keys, "noise"), []byte("x\n"), 0o600)
		}
	}()
	defer func() { close(stop); <-done }()
	// Let the writer run, then forget what its first writes signalled.
	time.Sleep(20 * debounce)
	for drained := false; !drained; {
		select {
		case <-w.Changed():
		default:
			drained = true
		}
	}
	must(t, os.Remove(filepath.Join(keys, "alice.toml")))
	limit := 50 * debounce // far beyond the bound; without it, never
	select {
	case <-w.Changed():
	case <-time.After(limit):
		t.Fatalf("alice's key file removed, but no change signalled within %v while events kept coming every %v", limit, debounce/5)
	}
}

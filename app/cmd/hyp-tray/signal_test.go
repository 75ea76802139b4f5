//go:build cgo

package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// A quit that never gets the window loop to stop (every thread in a futex, issue #19) no longer
// leaves hyp-tray deaf to SIGTERM: after the grace it exits with status 1 by itself.
func TestQuitOnSignalExitsWhenTheLoopIsStuck(t *testing.T) {
	sig := make(chan os.Signal, 1)
	quitted := make(chan struct{})
	exited := make(chan int, 1)
	go quitOnSignal(sig, func() { close(quitted) }, 10*time.Millisecond, func(code int) { exited <- code })
	select {
	case <-quitted:
		t.Fatal("quit before any signal")
	case <-exited:
		t.Fatal("exit before any signal")
	case <-time.After(50 * time.Millisecond):
	}
	sig <- syscall.SIGTERM
	select {
	case <-quitted:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not quit the tray")
	}
	select {
	case code := <-exited:
		if code != 1 {
			t.Fatalf("a stuck quit exited with %d, want 1", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stuck quit did not end the process")
	}
}

//go:build linux

package gateway

import (
	"errors"
	"os"
	"testing"
)

func TestLockIsOnePerTable(t *testing.T) {
	table := "hyp-locktest-" + t.Name()
	l, err := AcquireLock(table)
	if err != nil {
		t.Fatal(err)
	}
	pid, held, err := LockHolder(table)
	if err != nil || !held || pid != os.Getpid() {
		t.Errorf("LockHolder = %d, %v, %v; want this process (%d)", pid, held, err, os.Getpid())
	}
	_, err = AcquireLock(table)
	var re *RunningError
	if !errors.As(err, &re) || re.PID != os.Getpid() {
		t.Fatalf("second AcquireLock = %v; want a RunningError naming pid %d", err, os.Getpid())
	}
	other, err := AcquireLock(table + "-other")
	if err != nil {
		t.Fatalf("a lock for another table: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Error(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, held, err := LockHolder(table); held || err != nil {
		t.Errorf("after Close: held %v, %v", held, err)
	}
	again, err := AcquireLock(table)
	if err != nil {
		t.Fatalf("AcquireLock after Close: %v", err)
	}
	again.Close()
}

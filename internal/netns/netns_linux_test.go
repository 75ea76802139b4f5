package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// interfaces lists the interface names the calling thread sees.
func interfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names, nil
}

// tempNS makes the namespace name, removed when the test ends, with a veth pair link0/link1
// inside: a link that exists only there, so seeing it proves code ran there.
func tempNS(t *testing.T, name, link0, link1 string) {
	t.Helper()
	needs.Root(t, "creates a network namespace")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "add", link0, "type", "veth", "peer", "name", link1).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
}

func TestDoNamedSeesTheNamespaceAndComesBack(t *testing.T) {
	name := fmt.Sprintf("hypnetns-%d", os.Getpid())
	tempNS(t, name, "hypnetns0", "hypnetns1")
	var inside []string
	if err := DoNamed(name, func() (err error) { inside, err = interfaces(); return err }); err != nil {
		t.Fatal(err)
	}
	if len(inside) != 3 { // lo and the pair
		t.Errorf("inside the namespace: %v, want lo, hypnetns0 and hypnetns1", inside)
	}
	outside, err := interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range outside {
		if n == "hypnetns0" {
			t.Error("the caller's thread still sees the namespace's link")
		}
	}
	want := errors.New("from fn")
	if err := DoNamed(name, func() error { return want }); !errors.Is(err, want) {
		t.Errorf("DoNamed returned %v, want fn's error wrapped", err)
	}
	if err := DoNamed(name+"-missing", func() error { return nil }); err == nil {
		t.Error("DoNamed into a missing namespace succeeded")
	}
}

// Join leaves the goroutine's thread in the namespace for the goroutine's life; other
// goroutines, the test's included, stay where they were.
func TestJoinStaysInTheNamespace(t *testing.T) {
	name := fmt.Sprintf("hypjoin-%d", os.Getpid())
	tempNS(t, name, "hypjoin0", "hypjoin1")
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type seen struct {
		first, later []string
		err          error
	}
	done := make(chan seen)
	go func() {
		var s seen
		if s.err = Join(int(f.Fd())); s.err != nil {
			done <- s
			return
		}
		if s.first, s.err = interfaces(); s.err != nil {
			done <- s
			return
		}
		runtime.Gosched() // the goroutine may be rescheduled; its thread goes with it
		s.later, s.err = interfaces()
		done <- s
	}()
	s := <-done
	if s.err != nil {
		t.Fatal(s.err)
	}
	for _, names := range [][]string{s.first, s.later} {
		if len(names) != 3 {
			t.Errorf("the joined goroutine sees %v, want lo, hypjoin0 and hypjoin1", names)
		}
	}
	outside, err := interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(outside, "hypjoin0") {
		t.Error("the test's own goroutine sees the namespace's link")
	}
	// On a goroutine of its own: Join locks the thread it runs on, even when it fails.
	bad := make(chan error)
	go func() { bad <- Join(-1) }()
	if err := <-bad; err == nil {
		t.Error("Join of a bad descriptor succeeded")
	}
}

package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/hideyourports/hyp/internal/needs"
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

func TestDoNamedSeesTheNamespaceAndComesBack(t *testing.T) {
	needs.Root(t, "creates a network namespace")
	name := fmt.Sprintf("hypnetns-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	// A veth pair exists only inside: seeing it proves fn ran there.
	if out, err := exec.Command("ip", "-n", name, "link", "add", "hypnetns0", "type", "veth", "peer", "name", "hypnetns1").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
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

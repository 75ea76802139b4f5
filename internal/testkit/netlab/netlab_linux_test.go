package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/netns"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// Veth joins two namespaces; TempFD's descriptor is the namespace itself: a socket opened
// through it lives there and reaches the other end, and the lab's echo answers across the pair.
func TestVethAndTempFD(t *testing.T) {
	needs.Root(t, "creates network namespaces")
	a := Temp(t, fmt.Sprintf("hyplab-a-%d", os.Getpid()))
	b := Temp(t, fmt.Sprintf("hyplab-b-%d", os.Getpid()))
	if err := Veth(a, "va", b, "vb"); err != nil {
		t.Fatal(err)
	}
	if err := a.IPBatch("addr add 10.77.250.1/24 dev va", "link set va up"); err != nil {
		t.Fatal(err)
	}
	if err := b.IPBatch("addr add 10.77.250.2/24 dev vb", "link set vb up"); err != nil {
		t.Fatal(err)
	}
	b.TempEcho(t, 7007)

	fd := a.TempFD(t)
	var names []string
	if err := netns.Do(fd, func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0] != "lo" || names[1] != "va" {
		t.Fatalf("interfaces through TempFD's descriptor: %v, want [lo va]", names)
	}
	if err := a.Echoes(netip.MustParseAddrPort("10.77.250.2:7007"), 5*time.Second); err != nil {
		t.Fatalf("echo across the veth pair: %v", err)
	}
	// A second pair of the same names in the same namespaces is refused, by name.
	if err := Veth(a, "va", b, "vb"); err == nil {
		t.Fatal("a second veth pair named va/vb was made")
	}
}

// Open names the namespace in its error when there is none.
func TestOpenMissing(t *testing.T) {
	n := &NS{Name: fmt.Sprintf("hyplab-none-%d", os.Getpid())}
	f, err := n.Open()
	if err == nil {
		f.Close()
		t.Fatal("opened a namespace that does not exist")
	}
	if want := n.Name; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

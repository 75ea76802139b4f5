package detector

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/netns"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// tunIn creates a tun device (no link-layer header, like ppp0 of a PPPoE
// uplink) in the namespace fd; it exists while the returned file is open.
func tunIn(t *testing.T, nsFD int, name string) *os.File {
	t.Helper()
	var f *os.File
	err := netns.Do(nsFD, func() error {
		var err error
		f, err = os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		return unix.IoctlIfreq(int(f.Fd()), unix.TUNSETIFF, ifr)
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		t.Fatalf("creating tun device %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// On an interface without a link-layer header (PPP, tun) XDP sees packets
// from the IP header on: knocks through it complete, and ordinary traffic
// reaches its socket.
func TestRawIPInterface(t *testing.T) {
	needRoot(t)
	gw := nsName("gw")
	gwFD := newNS(t, gw)
	tun := tunIn(t, gwFD, "hypt0")
	for _, c := range [][]string{
		{"-n", gw, "addr", "add", "10.77.69.1/24", "dev", "hypt0"},
		{"-n", gw, "addr", "add", "fd77:69::1/64", "dev", "hypt0", "nodad"},
		{"-n", gw, "link", "set", "hypt0", "up"},
	} {
		ipIn(t, c[1], c[2:]...)
	}
	d := openDetector(t, Config{Interfaces: []string{"hypt0"}, NetNS: gwFD})
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	st := ifState(d, "hypt0")
	if !st.Attached() {
		t.Fatalf("hypt0: %+v, want attached", st)
	}
	t.Logf("tun device: %s XDP", st.Mode)
	var v uint8
	if err := d.objs.RawIfaces.Lookup(uint32(st.Index), &v); err != nil {
		t.Fatalf("hypt0 (index %d) not marked raw IP: %v", st.Index, err)
	}

	// A tun device's "wire" is its file: what is written there arrives as
	// received packets, IP header first.
	inject := func(f frame) {
		t.Helper()
		if _, err := tun.Write(f.bytes()[14:]); err != nil {
			t.Fatal(err)
		}
	}
	for _, src := range []netip.Addr{addr("10.77.69.2"), addr("fd77:69::2")} {
		for _, p := range seqA.Ports {
			inject(frame{src: src, dst: serverFor69(src), sport: 40000, dport: p})
		}
		wantRead(t, d, recordFor(src, seqA), 5*time.Second)
	}

	sock := listenIn(t, gwFD, "udp4", "10.77.69.1:0")
	port := uint16(sock.LocalAddr().(*net.UDPAddr).Port)
	before, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	inject(frame{src: addr("10.77.69.2"), dst: addr("10.77.69.1"), sport: 40000, dport: port, payload: 1})
	inject(frame{src: addr("10.77.69.2"), dst: addr("10.77.69.1"), sport: 40000, dport: port, payload: 17})
	got, ok := readWithin(t, sock, 2*time.Second)
	if !ok || len(got) != 17 {
		t.Fatalf("17-byte datagram through the tun device: got %d bytes, %v; want it to arrive (and the 1-byte one dropped)", len(got), ok)
	}
	after, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after.Seen != before.Seen+1 {
		t.Errorf("seen %d -> %d, want one more for the 1-byte datagram", before.Seen, after.Seen)
	}

	// Gone with its file: unmarked again.
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	waitfor.For(t, "hypt0 reported missing", 2*time.Second, func() bool { return ifState(d, "hypt0").Mode == "missing" })
	if err := d.objs.RawIfaces.Lookup(uint32(st.Index), &v); err == nil {
		t.Errorf("deleted hypt0 (index %d) still marked raw IP", st.Index)
	}
	d.setMu.Lock()
	n := d.settings.RawIfaces
	d.setMu.Unlock()
	if n != 0 {
		t.Errorf("settings count %d raw interfaces after the only one went, want 0", n)
	}
}

func serverFor69(src netip.Addr) netip.Addr {
	if src.Is4() {
		return addr("10.77.69.1")
	}
	return addr("fd77:69::1")
}

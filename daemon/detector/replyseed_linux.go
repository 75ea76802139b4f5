package detector

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// seedReplyPorts stamps the local port of every UDP flow conntrack knows in
// the calling thread's network namespace, as if a datagram of it had just
// left. It runs right after the egress program is attached: a flow confirmed
// before that is in the dump, and any later one is stamped by the egress
// program itself (conntrack confirms a datagram before it reaches the
// interface), so the reply prefilter can be on at once instead of after a
// whole reply window. Without it every knock-sized datagram pays a conntrack
// lookup for the first ten minutes after hypd starts or an interface comes
// back, which is when a flood that restarted it is still running.
//
// The stamps go through the egress program, run on a made-up datagram
// (BPF_PROG_TEST_RUN): it alone knows the kernel's jiffies and the stamp's
// form, so there is one way to write a stamp.
func seedReplyPorts(egress *ebpf.Program) (int, error) {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return 0, fmt.Errorf("opening conntrack netlink: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("dumping conntrack: %w", err)
	}
	// The reply tuple's destination is the port a reply arrives at here:
	// the gateway's own source port, or the port NAT gave a host behind it.
	// A flow someone else began to a local service has a remote port there;
	// stamping it only sends datagrams to that port through the conntrack
	// check, which is never wrong.
	ports := make(map[uint16]struct{})
	for _, f := range flows {
		if f.TupleReply.Proto.Protocol == unix.IPPROTO_UDP {
			ports[f.TupleReply.Proto.DestinationPort] = struct{}{}
		}
	}
	frame := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(frame[12:], unix.ETH_P_IP)
	ip := frame[14:]
	ip[0] = 0x45 // IPv4, 20-byte header
	binary.BigEndian.PutUint16(ip[2:], 28)
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[4:], 8)
	for p := range ports {
		binary.BigEndian.PutUint16(udp[0:], p)
		if _, err := egress.Run(&ebpf.RunOptions{Data: frame}); err != nil {
			return 0, fmt.Errorf("stamping UDP port %d through the egress program: %w", p, err)
		}
	}
	return len(ports), nil
}

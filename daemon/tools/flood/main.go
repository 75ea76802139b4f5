// Command flood sends UDP datagrams as fast as one socket can, for hyp's benchmarks: knock-sized
// datagrams to random ports (a scan or a flood as a gateway sees it), or to a fixed list of ports
// in turn. Run it inside the attacker's network namespace:
//
//	ip netns exec NS flood -to 10.77.9.1 -n 1000000
//
// It prints one line: datagrams sent, seconds, datagrams per second. Sending is batched with
// sendmmsg, 256 datagrams per system call, so one core sends well over a million a second.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	to := flag.String("to", "", "destination `address` (IPv4 or IPv6)")
	from := flag.String("from", "", "source `address` to bind (default: the kernel's choice)")
	n := flag.Int("n", 1000000, "number of datagrams")
	size := flag.Int("size", 0, "payload `bytes` (0: a v2 knock's size)")
	ports := flag.String("ports", "", "comma-separated `ports` to send to in turn (default: random 1..65535)")
	seed := flag.Uint64("seed", 1, "random seed for the ports")
	dur := flag.Duration("for", 0, "send for this `long` instead of -n datagrams")
	spoof := flag.String("spoof", "", "random source addresses from this IPv4 `prefix` (raw socket), as a spoofed flood")
	flag.Parse()
	o, err := parse(*to, *from, *n, *size, *ports, *seed)
	if err == nil {
		o.dur = *dur
		if *spoof != "" {
			if o.spoof, err = netip.ParsePrefix(*spoof); err == nil && (!o.spoof.Addr().Is4() || !o.to.Is4()) {
				err = fmt.Errorf("-spoof %s: IPv4 only", *spoof)
			}
		}
	}
	if err == nil {
		var r result
		if r, err = flood(o); err == nil {
			fmt.Printf("sent %d datagrams in %.3f s: %.0f datagrams/s\n", r.sent, r.elapsed.Seconds(), float64(r.sent)/r.elapsed.Seconds())
			return
		}
	}
	fmt.Fprintln(os.Stderr, "flood:", err)
	os.Exit(1)
}

// options is a parsed command line.
type options struct {
	to, from netip.Addr
	n, size  int
	ports    []uint16
	seed     uint64
	dur      time.Duration // send for this long, not n datagrams
	spoof    netip.Prefix  // random sources from it, through a raw socket
}

func parse(to, from string, n, size int, ports string, seed uint64) (options, error) {
	o := options{n: n, size: size, seed: seed}
	var err error
	if o.to, err = netip.ParseAddr(to); err != nil {
		return o, fmt.Errorf("-to %q: %w", to, err)
	}
	if from != "" {
		if o.from, err = netip.ParseAddr(from); err != nil {
			return o, fmt.Errorf("-from %q: %w", from, err)
		}
		if o.from.Is4() != o.to.Is4() {
			return o, fmt.Errorf("-from %v and -to %v are of different families", o.from, o.to)
		}
	}
	if n < 1 {
		return o, fmt.Errorf("-n %d: must be at least 1", n)
	}
	if size < 0 || size > 1400 {
		return o, fmt.Errorf("-size %d: must be 0..1400", size)
	}
	if ports != "" {
		for _, f := range strings.Split(ports, ",") {
			p, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
			if err != nil || p == 0 {
				return o, fmt.Errorf("-ports: %q is not a port 1..65535", f)
			}
			o.ports = append(o.ports, uint16(p))
		}
	}
	return o, nil
}

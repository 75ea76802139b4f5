// Package firewall opens protected services to knocked source addresses
// through one nftables table that hypd owns (by default `inet hyp`).
//
// The design follows the firewall bouncers that keep state in the kernel
// rather than in the daemon: a grant is one element of a set with its own
// timeout, so the kernel itself closes access when the open time ends, even
// if hypd has crashed or been stopped. hypd never deletes its table on exit
// (fail closed); only Cleanup does, on purpose.
//
// Layout of the table (see rules_linux.go for the exact expressions):
//
//	table inet hyp {
//	  set allow4    { type ipv4_addr . inet_proto . inet_service; flags timeout }
//	  set allow6    { type ipv6_addr . inet_proto . inet_service; flags timeout }
//	  set protected { type inet_proto . inet_service }   # Config.Protected
//	  set public    { type inet_proto . inet_service }   # Config.Public (stealth)
//	  chain input {
//	    type filter hook input priority -10; policy accept;
//	    ct state established,related accept
//	    iif lo accept
//	    meta nfproto ipv4 ip saddr . meta l4proto . th dport @allow4 accept
//	    meta nfproto ipv6 ip6 saddr . meta l4proto . th dport @allow6 accept
//	    # without Config.Stealth: IPv6 TCP and UDP with extension headers, which the kernel
//	    # answers by header, not by port (extHeaderRules):
//	    meta nfproto ipv6 ip6 nexthdr != { tcp, udp } meta l4proto tcp meta l4proto . th dport != @public counter drop
//	    meta nfproto ipv6 ip6 nexthdr != { tcp, udp } meta l4proto udp meta l4proto . th dport != @public counter drop
//	    # without Config.Stealth: shapes the kernel answers otherwise than reject could, dropped
//	    # at every port not public (probeShapeRules) but open TCP services (openServiceRule):
//	    meta l4proto tcp meta l4proto . th dport != @protected socket transparent & 0 == 0 accept
//	    meta nfproto ipv4 meta l4proto tcp ip hdrlength != 5 meta l4proto . th dport != @public counter drop
//	    meta nfproto ipv4 meta l4proto tcp ip dscp != 0 meta l4proto . th dport != @public counter drop
//	    meta nfproto ipv6 meta l4proto tcp ip6 dscp != 0 meta l4proto . th dport != @public counter drop
//	    meta l4proto udp ct state invalid meta l4proto . th dport != @public counter drop
//	    # without Config.Stealth: shapes the kernel drops before its socket lookup, dropped at
//	    # protected ports (kernelDropRules):
//	    meta l4proto tcp tcp doff < 5 meta l4proto . th dport @protected counter drop
//	    meta l4proto tcp ct state invalid tcp flags & (fin|syn|rst|ack) == syn meta l4proto . th dport @protected counter drop
//	    meta l4proto tcp tcp option md5sig exists meta l4proto . th dport @protected counter drop
//	    meta nfproto ipv6 meta l4proto udp udp checksum 0 meta l4proto . th dport @protected counter drop
//	    # without Config.Stealth, answered as an unused port (see protectedRules), in frames to
//	    # our own MAC only:
//	    meta l4proto tcp meta l4proto . th dport @protected meta pkttype host counter reject with tcp reset
//	    meta l4proto udp meta l4proto . th dport @protected meta pkttype host udp length > 24 counter reject with icmpx port-unreachable
//	    # the rest (knock-sized UDP; everything with Config.Stealth):
//	    meta l4proto . th dport @protected counter drop
//	    # without Config.Stealth: knock-sized datagrams XDP did not see or parse, as XDP drops
//	    # them (knockSizedRule):
//	    meta l4proto udp fib daddr type local udp length <= 24 meta l4proto . udp dport != @public counter drop
//	    meta l4proto udp fib daddr type anycast udp length <= 24 meta l4proto . udp dport != @public counter drop
//	    # only with Config.Stealth:
//	    meta l4proto . th dport @public accept
//	    meta nfproto ipv6 ip6 saddr fe80::/10 udp dport 546 accept
//	    meta l4proto tcp counter drop
//	    meta l4proto udp counter drop
//	  }
//	  chain forward {
//	    type filter hook forward priority -10; policy accept;
//	    ct state established,related accept
//	    ct status & dnat == 0 accept
//	    meta nfproto ipv4 ip saddr . meta l4proto . ct original proto-dst @allow4 accept
//	    meta nfproto ipv6 ip6 saddr . meta l4proto . ct original proto-dst @allow6 accept
//	    # not with Config.Stealth: IPv6 with extension headers, the probe shapes of input's
//	    # probeShapeRules and kernelDropRules at protected ports, then the same reject rules as
//	    # input, all by ct original proto-dst
//	    meta nfproto ipv6 ip6 nexthdr != { tcp, udp } meta l4proto . ct original proto-dst @protected counter drop
//	    meta l4proto . ct original proto-dst @protected counter drop
//	  }
//	  chain output {
//	    type filter hook output priority -10; policy accept;
//	    # without Config.Stealth, where net.ipv6.auto_flowlabels labels the kernel's own RSTs:
//	    meta nfproto ipv6 meta l4proto tcp @nh,0,32 0x60000000 ct state related
//	      meta l4proto . ct original proto-dst @protected
//	      @nh,0,32 set jhash ip6 saddr . ip6 daddr . tcp sport . tcp dport mod 2^20 seed S offset 0x60000000
//	  }
//	}
//
// Only this table is ever created, changed or deleted. Netfilter runs every
// base chain on a hook and a drop or reject in any of them is final, so this
// table can only take access away from the host's own firewall, never grant
// more.
package firewall

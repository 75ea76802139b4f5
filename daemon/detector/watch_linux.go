package detector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/bpf"
	"github.com/hideyourports/hyp/internal/netns"
)

// watcher keeps the kernel in step with the gateway's namespace: the
// local-address map with its addresses, and an XDP link on every configured
// interface that exists, however often it is deleted and re-created (a PPPoE
// reconnect, a USB modem, a rebuilt VLAN). It owns its netlink sockets, its
// stop pipe and the XDP links; one goroutine, locked to a thread inside the
// namespace, does all the work, so attaching (which resolves an ifindex in
// the caller's namespace) always happens there.
type watcher struct {
	objs     *bpf.Objects
	progID   uint32
	names    []string
	onChange func(InterfaceState)
	settings func(func(*bpf.Settings)) error // changes the program's settings
	eventBuf int                             // receive buffer of events (0: the default)
	// replyNow (tests) turns the reply prefilter on as soon as the egress
	// program is attached, as if the warm-up window had passed.
	replyNow bool
	// noSeed (tests) skips seedReplyPorts, as where conntrack's table
	// cannot be read.
	noSeed  bool
	resyncs atomic.Uint64 // times the event queue overflowed

	events       *nlSocket // subscribed to link and address changes
	stopR, stopW *os.File
	done         chan struct{}

	// reqMu guards req, the socket for dumps and queries, used by the
	// watcher goroutine and by Interfaces.
	reqMu sync.Mutex
	req   *nlSocket

	// mu guards ifaces and raw (the ifindexes in the program's raw_ifaces
	// map). Only the watcher goroutine changes them; Interfaces takes mu to
	// read the last error of an interface.
	mu     sync.Mutex
	ifaces map[string]*ifaceState
	raw    map[int]bool
	timers []*time.Timer // pending replyFilter calls, stopped by release
	// rotation is the next rotateReply, stopped by release.
	rotation *time.Timer
	closed   bool // release has run: a late timer changes nothing

	// rotMu guards replyGen, the reply prefilter's current generation
	// (Settings.ReplyGen), changed by rotateReply only.
	rotMu    sync.Mutex
	replyGen uint32

	// The watcher goroutine alone uses addrs, filterOK and needSync.
	addrs    map[netip.Addr]map[int]struct{} // address -> ifindexes holding it
	filterOK bool                            // every local address is in the map
	needSync bool                            // the last resync's dump failed
}

// ifaceState is one configured interface as the watcher left it.
type ifaceState struct {
	index  int       // 0: missing
	link   link.Link // nil: not attached
	egress link.Link // tcx egress link of bpf.Objects.Egress; nil: none
	// egressAt is when egress was attached.
	egressAt time.Time
	// seeded: right after egress was attached, the ports of every UDP flow
	// conntrack knew were stamped (seedReplyPorts), so no flow needs the
	// warm-up window.
	seeded bool
	mode   string // "native", "generic", "missing" or "error: ..."
}

// startWatcher opens the netlink sockets inside namespace fd (0: the current
// one), fills the local-address map, switches the filter on, attaches to every
// configured interface that exists and then follows changes until stop. The
// order matters: attached with the filter on and the map still empty, the
// program would pass every knock.
func startWatcher(fd int, objs *bpf.Objects, names []string, onChange func(InterfaceState), settings func(func(*bpf.Settings)) error, eventBuf int, replyNow, noSeed bool) (*watcher, error) {
	info, err := objs.Program.Info()
	if err != nil {
		return nil, fmt.Errorf("reading the knock program's id: %w", err)
	}
	id, _ := info.ID()
	w := &watcher{
		objs:     objs,
		progID:   uint32(id),
		names:    names,
		onChange: onChange,
		settings: settings,
		raw:      make(map[int]bool),
		eventBuf: eventBuf,
		replyNow: replyNow,
		noSeed:   noSeed,
		done:     make(chan struct{}),
		ifaces:   make(map[string]*ifaceState),
		addrs:    make(map[netip.Addr]map[int]struct{}),
	}
	for _, n := range names {
		w.ifaces[n] = &ifaceState{mode: "missing"}
	}
	w.stopR, w.stopW, err = os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("making the interface watcher's stop pipe: %w", err)
	}
	started := make(chan error, 1)
	go w.run(fd, started)
	if err := <-started; err != nil {
		<-w.done
		return nil, errors.Join(err, w.release())
	}
	return w, nil
}

func (w *watcher) run(fd int, started chan<- error) {
	defer close(w.done)
	if fd != 0 {
		// For the watcher's whole life: its thread ends with it, still in the gateway's namespace.
		if err := netns.Join(fd); err != nil {
			started <- err
			return
		}
	}
	if err := w.start(); err != nil {
		started <- err
		return
	}
	w.scheduleRotation()
	started <- nil
	w.loop()
}

func (w *watcher) start() error {
	var err error
	// Subscribe before the dumps: a change during them is then queued, and
	// replaying it over the dump gives the current state.
	w.events, err = openNetlink(unix.RTMGRP_LINK|unix.RTMGRP_IPV4_IFADDR|unix.RTMGRP_IPV6_IFADDR, w.eventBuf)
	if err != nil {
		return err
	}
	w.req, err = openNetlink(0, 0)
	if err != nil {
		return err
	}
	if err := w.syncAddrs(); err != nil {
		return err
	}
	links, err := w.dumpLinks()
	if err != nil {
		return err
	}
	// At start an interface that exists but refuses the program is an
	// error to report now (an old kernel, a broken driver); a missing one
	// is waited for.
	var errs []error
	for _, name := range w.names {
		i := slices.IndexFunc(links, func(l linkMsg) bool { return l.name == name })
		if i < 0 {
			continue
		}
		if err := w.attach(name, links[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (w *watcher) dumpLinks() ([]linkMsg, error) {
	w.reqMu.Lock()
	defer w.reqMu.Unlock()
	return w.req.dumpLinks()
}

// syncAddrs replaces the map's addresses with a fresh dump: at start and
// after the event queue overflowed. New addresses go in before stale ones go
// out, so no current address is ever missing.
func (w *watcher) syncAddrs() error {
	w.reqMu.Lock()
	list, err := w.req.dumpAddrs()
	w.reqMu.Unlock()
	if err != nil {
		return err
	}
	fresh := make(map[netip.Addr]map[int]struct{})
	for _, a := range list {
		if fresh[a.addr] == nil {
			fresh[a.addr] = make(map[int]struct{})
		}
		fresh[a.addr][a.index] = struct{}{}
	}
	ok := true
	for a := range fresh {
		if _, had := w.addrs[a]; !had {
			if err := w.objs.LocalAddrs.Update(addrKey(a), uint8(1), ebpf.UpdateAny); err != nil {
				ok = false
			}
		}
	}
	for a := range w.addrs {
		if _, keep := fresh[a]; !keep {
			_ = w.objs.LocalAddrs.Delete(addrKey(a))
		}
	}
	w.addrs = fresh
	// Inline before the filter is on: the program then has the addresses
	// one way or the other.
	return errors.Join(w.inlineAddrs(), w.filter(ok))
}

// inlineAddrs puts the local addresses into the settings while they fit
// (bpf.LocalInline), where the program compares them in lines it already
// has in cache instead of hashing a flood datagram's destination into the
// map (about 20 ns a datagram live). With more, the map alone answers.
// A reader racing the write may see a half-written address for that one
// datagram: judged not the gateway's, it passes to the stack, whose nftables
// table drops a knock-sized datagram anyway.
func (w *watcher) inlineAddrs() error {
	n, list := inlineList(maps.Keys(w.addrs))
	return w.settings(func(s *bpf.Settings) { s.LocalN, s.Local = n, list })
}

// inlineList is Settings.LocalN and Settings.Local for the local addresses
// addrs: their number + 1 and the addresses while they fit, else 0.
func inlineList(addrs iter.Seq[netip.Addr]) (uint32, [bpf.LocalInline]bpf.Addr) {
	var list [bpf.LocalInline]bpf.Addr
	n := 0
	for a := range addrs {
		if n == bpf.LocalInline {
			return 0, [bpf.LocalInline]bpf.Addr{}
		}
		list[n] = addrKey(a)
		n++
	}
	return uint32(n) + 1, list
}

// filter switches the local-address filter on only while the map holds every
// local address. A full map would otherwise pass knocks to an address it
// lacks; with the filter off every destination is judged, as before it
// existed.
func (w *watcher) filter(ok bool) error {
	if ok == w.filterOK {
		return nil
	}
	err := w.settings(func(s *bpf.Settings) {
		s.LocalFilter = 0
		if ok {
			s.LocalFilter = 1
		}
	})
	if err != nil {
		return err
	}
	w.filterOK = ok
	return nil
}

func (w *watcher) addAddr(a addrMsg) {
	if w.addrs[a.addr] == nil {
		w.addrs[a.addr] = make(map[int]struct{})
		if err := w.objs.LocalAddrs.Update(addrKey(a.addr), uint8(1), ebpf.UpdateAny); err != nil {
			_ = w.filter(false)
		}
		_ = w.inlineAddrs()
	}
	w.addrs[a.addr][a.index] = struct{}{}
}

func (w *watcher) delAddr(a addrMsg) {
	idx, ok := w.addrs[a.addr]
	if !ok {
		return
	}
	delete(idx, a.index)
	if len(idx) == 0 {
		delete(w.addrs, a.addr)
		_ = w.inlineAddrs()
		_ = w.objs.LocalAddrs.Delete(addrKey(a.addr))
	}
}

// dropIndex forgets every address of a deleted interface, in case its
// RTM_DELADDRs were lost.
func (w *watcher) dropIndex(index int) {
	for a, idx := range w.addrs {
		if _, ok := idx[index]; ok {
			w.delAddr(addrMsg{index: index, addr: a})
		}
	}
}

// addrKey is the map key of a: IPv6 as is, IPv4 as ::ffff:a.b.c.d, each
// 32-bit word in host order as the program reads it.
func addrKey(a netip.Addr) bpf.Addr {
	var k bpf.Addr
	b := a.As16()
	for i := range k.W {
		k.W[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	return k
}

// attach puts the program on interface l (native mode, else generic),
// replacing a link to an earlier interface of that name. An interface without
// a link-layer header is marked as such first, so that its first packet is
// already parsed right.
func (w *watcher) attach(name string, l linkMsg) error {
	index := l.index
	w.mu.Lock()
	st := w.ifaces[name]
	old, oldIndex := st.link, st.index
	st.link, st.index = nil, index
	w.mu.Unlock()
	if old != nil {
		_ = old.Close() // its interface is gone; this only drops our handle
	}
	if oldIndex != 0 && oldIndex != index {
		w.setRaw(oldIndex, false)
	}
	if err := w.setRaw(index, l.rawIP()); err != nil {
		err = fmt.Errorf("attaching knock detector to %q: %w", name, err)
		w.mu.Lock()
		st.mode = "error: " + err.Error()
		w.mu.Unlock()
		return err
	}
	xl, nerr := link.AttachXDP(link.XDPOptions{Program: w.objs.Program, Interface: index, Flags: link.XDPDriverMode})
	mode := "native"
	var err error
	if nerr != nil {
		var gerr error
		xl, gerr = link.AttachXDP(link.XDPOptions{Program: w.objs.Program, Interface: index, Flags: link.XDPGenericMode})
		if gerr != nil {
			err = fmt.Errorf("attaching knock detector to %q: native: %w; generic: %w", name, nerr, gerr)
			mode = "error: " + err.Error()
			xl = nil
		} else {
			mode = "generic"
		}
	}
	var el link.Link
	if xl != nil {
		// Without it the program keeps asking conntrack about every
		// datagram (replyFilter), as before: slower, never wrong.
		// First in the chain: a program before it that redirected a
		// datagram (to leave elsewhere) would hide it; stamping one a
		// later program drops costs only a lookup.
		el, _ = link.AttachTCX(link.TCXOptions{Program: w.objs.Egress, Attach: ebpf.AttachTCXEgress, Interface: index, Anchor: link.Head()})
	}
	seeded := false
	if el != nil && !w.noSeed {
		// A failed dump (no conntrack netlink here) leaves the warm-up
		// window: slower for ten minutes, never wrong.
		_, serr := seedReplyPorts(w.objs.Egress)
		seeded = serr == nil
	}
	w.mu.Lock()
	old = st.egress
	st.link, st.egress, st.mode = xl, el, mode
	st.egressAt = time.Now()
	st.seeded = seeded
	if el != nil && !w.replyNow && !seeded {
		// Flows that left before the egress program saw them have
		// no stamp: the prefilter waits until they are over.
		w.timers = append(w.timers, time.AfterFunc(replyWindow(), func() { _ = w.replyFilter() }))
	}
	w.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	if ferr := w.replyFilter(); ferr != nil && err == nil {
		err = fmt.Errorf("attaching knock detector to %q: %w", name, ferr)
	}
	return err
}

// replyWindow bounds how long after a local UDP port's last datagram out (or
// reply in) a reply to it can still arrive: conntrack keeps a UDP entry for
// nf_conntrack_udp_timeout_stream (120 s by default) after its last packet;
// twice the longest sysctl, at least 10 minutes, leaves room for an nftables
// ct timeout policy that stretches it.
func replyWindow() time.Duration {
	longest := 120 * time.Second
	for _, f := range []string{"nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"} {
		b, err := os.ReadFile("/proc/sys/net/netfilter/" + f)
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			longest = max(longest, time.Duration(n)*time.Second)
		}
	}
	return max(2*longest, 10*time.Minute)
}

// replyFilter turns the reply prefilter on while every interface the program
// is on has the egress program and either its attach stamped every flow
// conntrack knew or it has been there a whole reply window (so every flow
// that can still have a reply was stamped), and off otherwise.
func (w *watcher) replyFilter() error {
	window := replyWindow()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	on, any := true, false
	for _, st := range w.ifaces {
		if st.link != nil {
			any = true
			on = on && st.egress != nil && (w.replyNow || st.seeded || time.Since(st.egressAt) >= window)
		}
	}
	w.mu.Unlock()
	var v uint32
	if on && any {
		v = 1
	}
	return w.settings(func(s *bpf.Settings) { s.ReplyOn = v })
}

// scheduleRotation arms the next rotateReply, one reply window from now.
func (w *watcher) scheduleRotation() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.rotation = time.AfterFunc(replyWindow(), func() {
		// A failed rotation leaves both generations as they were: ports
		// stay exempt longer, never shorter.
		_ = w.rotateReply()
		w.scheduleRotation()
	})
}

// rotateReply clears the reply prefilter's older generation and makes it the
// current one. A port's bit so lives from its last stamp until the second
// rotation after it: at least one reply window (twice conntrack's longest
// UDP timeout), at most two.
func (w *watcher) rotateReply() error {
	w.rotMu.Lock()
	defer w.rotMu.Unlock()
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		// release waits for rotMu after marking the watcher closed, so no
		// rotation runs on maps being closed.
		return nil
	}
	next := 1 - w.replyGen
	if err := w.objs.ReplyBits.Update(next, bpf.ReplyGenBits{}, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("clearing the reply prefilter's generation %d: %w", next, err)
	}
	if err := w.settings(func(s *bpf.Settings) { s.ReplyGen = next }); err != nil {
		return fmt.Errorf("switching the reply prefilter to generation %d: %w", next, err)
	}
	w.replyGen = next
	return nil
}

// setRaw adds index to, or removes it from, the program's set of interfaces
// without a link-layer header, and keeps the count in the settings.
func (w *watcher) setRaw(index int, raw bool) error {
	w.mu.Lock()
	had := w.raw[index]
	w.mu.Unlock()
	if had == raw {
		return nil
	}
	if raw {
		if err := w.objs.RawIfaces.Update(uint32(index), uint8(1), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("marking interface %d as raw IP: %w", index, err)
		}
	} else if err := w.objs.RawIfaces.Delete(uint32(index)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unmarking interface %d as raw IP: %w", index, err)
	}
	w.mu.Lock()
	if raw {
		w.raw[index] = true
	} else {
		delete(w.raw, index)
	}
	n := uint32(len(w.raw))
	w.mu.Unlock()
	return w.settings(func(s *bpf.Settings) { s.RawIfaces = n })
}

// detach marks name missing after its interface went away or was renamed.
func (w *watcher) detach(name string) {
	w.mu.Lock()
	st := w.ifaces[name]
	old, oldEgress, index := st.link, st.egress, st.index
	st.link, st.egress, st.index, st.mode = nil, nil, 0, "missing"
	w.mu.Unlock()
	if oldEgress != nil {
		_ = oldEgress.Close()
	}
	if old != nil {
		_ = old.Close()
	}
	if index != 0 {
		_ = w.setRaw(index, false)
	}
}

func (w *watcher) loop() {
	buf := make([]byte, 256<<10)
	fds := []unix.PollFd{{Fd: int32(w.events.fd), Events: unix.POLLIN}, {Fd: int32(w.stopR.Fd()), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, _, err := unix.Recvfrom(w.events.fd, buf, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			// ENOBUFS: events were lost. Start again from the kernel's
			// state; so for any other error, rather than stop following.
			w.drain(buf)
			w.resync()
			continue
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for i := range msgs {
			w.handle(&msgs[i])
		}
		if w.needSync {
			w.resync()
		}
	}
}

// drain discards every queued event: the dump that follows supersedes them.
// It matters beyond saving work: the kernel reports an overflow only once
// until the queue has been empty, so events lost while old ones still wait
// would go unnoticed.
func (w *watcher) drain(buf []byte) {
	for {
		_, _, err := unix.Recvfrom(w.events.fd, buf, unix.MSG_DONTWAIT)
		if err != nil && !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EINTR) {
			return // EAGAIN: empty
		}
	}
}

func (w *watcher) handle(m *syscall.NetlinkMessage) {
	switch m.Header.Type {
	case unix.RTM_NEWADDR:
		if a, ok := parseAddr(m); ok {
			w.addAddr(a)
		}
	case unix.RTM_DELADDR:
		if a, ok := parseAddr(m); ok {
			w.delAddr(a)
		}
	case unix.RTM_NEWLINK:
		if l, ok := parseLink(m); ok {
			w.linkSeen(l)
		}
	case unix.RTM_DELLINK:
		if l, ok := parseLink(m); ok {
			w.dropIndex(l.index)
			w.linkGone(l.index)
		}
	}
}

// linkSeen handles a link that exists now: a new interface of a configured
// name gets the program, and a configured interface that was renamed away
// loses it.
func (w *watcher) linkSeen(l linkMsg) {
	for _, name := range w.names {
		w.mu.Lock()
		st := *w.ifaces[name]
		w.mu.Unlock()
		switch {
		case name == l.name && (st.index != l.index || st.link == nil):
			// New, or an attach that failed before: an event on the link
			// (it came up, say) is the moment to try again. The error, if
			// any, stays in the state.
			_ = w.attach(name, l)
			w.mu.Lock()
			after := *w.ifaces[name]
			w.mu.Unlock()
			if after.mode != st.mode || after.index != st.index {
				w.notify(name)
			}
		case name != l.name && st.index == l.index:
			w.detach(name)
			w.notify(name)
		}
	}
}

func (w *watcher) linkGone(index int) {
	for _, name := range w.names {
		w.mu.Lock()
		gone := w.ifaces[name].index == index
		w.mu.Unlock()
		if gone {
			w.detach(name)
			w.notify(name)
		}
	}
}

// resync rebuilds the address map and the attachments from dumps.
func (w *watcher) resync() {
	w.resyncs.Add(1)
	// Until a dump succeeds the map may lack addresses: judge every
	// destination meanwhile, and try again after the next event.
	w.needSync = false
	if err := w.syncAddrs(); err != nil {
		w.needSync = true
		_ = w.filter(false)
	}
	links, err := w.dumpLinks()
	if err != nil {
		w.needSync = true
		return
	}
	for _, name := range w.names {
		i := slices.IndexFunc(links, func(l linkMsg) bool { return l.name == name })
		if i >= 0 {
			w.linkSeen(links[i])
			continue
		}
		w.mu.Lock()
		missing := w.ifaces[name].index == 0
		w.mu.Unlock()
		if !missing {
			w.detach(name)
			w.notify(name)
		}
	}
}

func (w *watcher) mode(name string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ifaces[name].mode
}

func (w *watcher) notify(name string) {
	if w.onChange == nil {
		return
	}
	w.mu.Lock()
	st := *w.ifaces[name]
	w.mu.Unlock()
	w.onChange(InterfaceState{Name: name, Index: st.index, Mode: st.mode})
}

// interfaces reports each configured interface as the kernel has it: the
// program id on the link in native or generic mode, not what the watcher
// believes.
func (w *watcher) interfaces() []InterfaceState {
	out := make([]InterfaceState, 0, len(w.names))
	for _, name := range w.names {
		w.reqMu.Lock()
		l, ok, err := w.req.link(name)
		w.reqMu.Unlock()
		s := InterfaceState{Name: name}
		switch {
		case err != nil:
			s.Mode = "error: " + err.Error()
		case !ok:
			s.Mode = "missing"
		default:
			s.Index = l.index
			switch w.progID {
			case l.xdpDrv:
				s.Mode = "native"
			case l.xdpSKB:
				s.Mode = "generic"
			default:
				s.Mode = "error: knock detector not attached"
				if m := w.mode(name); len(m) > 7 && m[:7] == "error: " {
					s.Mode = m
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// stop ends the goroutine, then releases the links (newest first) and the
// sockets: the reverse of start.
func (w *watcher) stop() error {
	_, _ = w.stopW.Write([]byte{0})
	<-w.done
	return w.release()
}

// release closes the links and then the sockets and the pipe, once the
// goroutine has ended.
func (w *watcher) release() error {
	var errs []error
	w.mu.Lock()
	for _, t := range w.timers {
		t.Stop()
	}
	if w.rotation != nil {
		w.rotation.Stop()
	}
	w.timers, w.rotation, w.closed = nil, nil, true
	w.mu.Unlock()
	// A rotation already running finishes before the maps can be closed.
	w.rotMu.Lock()
	//lint:ignore SA2001 an empty critical section is the barrier
	w.rotMu.Unlock()
	w.mu.Lock()
	for i := len(w.names) - 1; i >= 0; i-- {
		st := w.ifaces[w.names[i]]
		if st.egress != nil {
			if err := st.egress.Close(); err != nil {
				errs = append(errs, fmt.Errorf("detaching egress watch from %q: %w", w.names[i], err))
			}
			st.egress = nil
		}
		if st.link != nil {
			if err := st.link.Close(); err != nil {
				errs = append(errs, fmt.Errorf("detaching knock detector from %q: %w", w.names[i], err))
			}
			st.link = nil
		}
	}
	w.mu.Unlock()
	if w.req != nil {
		errs = append(errs, w.req.Close())
	}
	if w.events != nil {
		errs = append(errs, w.events.Close())
	}
	errs = append(errs, w.stopW.Close(), w.stopR.Close())
	return errors.Join(errs...)
}

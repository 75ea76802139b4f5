package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch is how many datagrams one sendmmsg carries.
const batch = 256

type result struct {
	sent    int
	elapsed time.Duration
}

// flood sends o.n datagrams (or for o.dur) from one UDP socket, or from a raw socket with
// random source addresses when o.spoof is set.
func flood(o options) (result, error) {
	if o.spoof.IsValid() {
		return floodSpoofed(o)
	}
	family, salen := unix.AF_INET, unix.SizeofSockaddrInet4
	if o.to.Is6() {
		family, salen = unix.AF_INET6, unix.SizeofSockaddrInet6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return result{}, fmt.Errorf("opening a UDP socket: %w", err)
	}
	defer unix.Close(fd)
	if o.from.IsValid() {
		var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: o.from.As4()}
		if o.from.Is6() {
			sa = &unix.SockaddrInet6{Addr: o.from.As16()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return result{}, fmt.Errorf("binding %v: %w", o.from, err)
		}
	}

	// One destination sockaddr per slot of the batch; only the port changes between batches.
	// The raw sockaddrs keep the port in network byte order.
	payload := make([]byte, max(o.size, 1))
	iov := unix.Iovec{Base: &payload[0]}
	iov.SetLen(o.size)
	names := make([][unix.SizeofSockaddrInet6]byte, batch)
	msgs := make([]unix.Mmsghdr, batch)
	for i := range msgs {
		sa := names[i][:]
		if o.to.Is6() {
			binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET6)
			a := o.to.As16()
			copy(sa[8:24], a[:])
		} else {
			binary.NativeEndian.PutUint16(sa[0:], unix.AF_INET)
			a := o.to.As4()
			copy(sa[4:8], a[:])
		}
		msgs[i].Hdr.Name = &names[i][0]
		msgs[i].Hdr.Namelen = uint32(salen)
		msgs[i].Hdr.Iov = &iov
		msgs[i].Hdr.SetIovlen(1)
	}
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	next := 0
	port := func() uint16 {
		if len(o.ports) > 0 {
			p := o.ports[next%len(o.ports)]
			next++
			return p
		}
		return uint16(1 + rng.IntN(65535))
	}

	start := time.Now()
	sent := 0
	for (o.dur > 0 && time.Since(start) < o.dur) || (o.dur == 0 && sent < o.n) {
		k := batch
		if o.dur == 0 {
			k = min(batch, o.n-sent)
		}
		for i := range k {
			binary.BigEndian.PutUint16(names[i][2:4], port())
		}
		if off, err := sendAll(fd, msgs[:k]); err != nil {
			return result{sent: sent + off, elapsed: time.Since(start)}, err
		}
		sent += k
	}
	elapsed := time.Since(start)
	runtime.KeepAlive(payload)
	runtime.KeepAlive(names)
	runtime.KeepAlive(msgs)
	return result{sent: sent, elapsed: elapsed}, nil
}

// floodSpoofed sends UDP datagrams with a random source address of o.spoof each, built whole
// (IPv4 header included) on a raw socket: what a spoofed flood looks like to the gateway, each
// datagram from a source it has never seen.
func floodSpoofed(o options) (result, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return result{}, fmt.Errorf("opening a raw socket: %w", err)
	}
	defer unix.Close(fd)
	const hdr = 20 + 8
	frames := make([][]byte, batch)
	iovs := make([]unix.Iovec, batch)
	var name [unix.SizeofSockaddrInet4]byte
	binary.NativeEndian.PutUint16(name[0:], unix.AF_INET)
	dst := o.to.As4()
	copy(name[4:8], dst[:])
	msgs := make([]unix.Mmsghdr, batch)
	for i := range frames {
		f := make([]byte, hdr+o.size)
		f[0] = 0x45                                          // IPv4, 5-word header
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))    // total length
		f[8], f[9] = 64, unix.IPPROTO_UDP                    // TTL, protocol
		copy(f[16:20], dst[:])                               // destination
		binary.BigEndian.PutUint16(f[20:], 40000)            // source port
		binary.BigEndian.PutUint16(f[24:], uint16(8+o.size)) // UDP length; checksum 0: none
		frames[i] = f
		iovs[i] = unix.Iovec{Base: &f[0]}
		iovs[i].SetLen(len(f))
		msgs[i].Hdr.Name = &name[0]
		msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	base := binary.BigEndian.Uint32(o.spoof.Masked().Addr().AsSlice())
	hostBits := 32 - o.spoof.Bits()
	next := 0
	start := time.Now()
	sent := 0
	for (o.dur > 0 && time.Since(start) < o.dur) || (o.dur == 0 && sent < o.n) {
		k := batch
		if o.dur == 0 {
			k = min(batch, o.n-sent)
		}
		for i := range k {
			f := frames[i]
			src := base
			if hostBits > 0 {
				src |= uint32(rng.Uint64()) & (1<<hostBits - 1)
			}
			binary.BigEndian.PutUint32(f[12:16], src)
			p := uint16(1 + rng.IntN(65535))
			if len(o.ports) > 0 {
				p = o.ports[next%len(o.ports)]
				next++
			}
			binary.BigEndian.PutUint16(f[22:], p)
		}
		if off, err := sendAll(fd, msgs[:k]); err != nil {
			return result{sent: sent + off, elapsed: time.Since(start)}, err
		}
		sent += k
	}
	elapsed := time.Since(start)
	runtime.KeepAlive(frames)
	runtime.KeepAlive(iovs)
	runtime.KeepAlive(msgs)
	return result{sent: sent, elapsed: elapsed}, nil
}

// sendAll sends every message with sendmmsg, retrying what a full queue or a signal cut short,
// and returns how many went out before an error.
func sendAll(fd int, msgs []unix.Mmsghdr) (int, error) {
	for off := 0; off < len(msgs); {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[off])), uintptr(len(msgs)-off), 0, 0, 0)
		if errno != 0 {
			if errors.Is(errno, unix.EINTR) || errors.Is(errno, unix.ENOBUFS) || errors.Is(errno, unix.EAGAIN) {
				continue
			}
			return off, fmt.Errorf("sendmmsg: %w", errno)
		}
		off += int(r)
	}
	return len(msgs), nil
}

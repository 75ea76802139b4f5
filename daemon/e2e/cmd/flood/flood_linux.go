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

// flood sends o.n datagrams from one UDP socket.
func flood(o options) (result, error) {
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
	for sent < o.n {
		k := min(batch, o.n-sent)
		for i := range k {
			binary.BigEndian.PutUint16(names[i][2:4], port())
		}
		for off := 0; off < k; {
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[off])), uintptr(k-off), 0, 0, 0)
			if errno != 0 {
				if errors.Is(errno, unix.EINTR) || errors.Is(errno, unix.ENOBUFS) || errors.Is(errno, unix.EAGAIN) {
					continue
				}
				return result{sent: sent + off, elapsed: time.Since(start)}, fmt.Errorf("sendmmsg: %w", errno)
			}
			off += int(r)
		}
		sent += k
	}
	elapsed := time.Since(start)
	runtime.KeepAlive(payload)
	runtime.KeepAlive(names)
	runtime.KeepAlive(msgs)
	return result{sent: sent, elapsed: elapsed}, nil
}

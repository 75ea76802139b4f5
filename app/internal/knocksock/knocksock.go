// Package knocksock opens the UDP socket a knock is sent from. On most systems that is the
// net package's socket; on Windows it is a plain Winsock socket (socket, bind, sendto), because
// Go's net package sets SIO_UDP_NETRESET on every UDP socket and wine 8 refuses that ioctl, so
// no knock could leave a client under wine. A knock needs none of what the ioctl is for (it
// keeps a socket usable after an ICMP "port unreachable", and a knock reads no replies).
//
// core/knock takes the listener as an injected function, so core stays free of OS code; the
// client (app/cli, app/connect) injects Listen.
package knocksock

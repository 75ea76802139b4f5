//go:build !windows

package knocksock

import (
	"context"
	"net"
)

// Listen opens a UDP socket ("udp4" or "udp6") bound to address, as net.ListenConfig does.
func Listen(ctx context.Context, network, address string) (net.PacketConn, error) {
	return (&net.ListenConfig{}).ListenPacket(ctx, network, address)
}

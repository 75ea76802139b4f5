//go:build !linux && !windows

package helperipc

import (
	"context"
	"errors"
	"io/fs"
	"net"
)

// DefaultAddress: no helper channel on this platform.
const DefaultAddress = ""

// Config is accepted for the API's sake.
type Config struct {
	Address string
}

var errUnsupported = errors.New("the helper channel exists on Linux and Windows only")

// DefaultServer: no helper account on this platform.
const DefaultServer = ""

func checkServer(net.Conn, string) error { return errUnsupported }

// Listen fails: the helper service's channel is built for Linux and Windows.
func Listen(Config) (*Listener, error) { return nil, errUnsupported }

func dialTransport(context.Context, string) (net.Conn, error) { return nil, fs.ErrNotExist }

func isAbsent(err error) bool { return errors.Is(err, fs.ErrNotExist) }

const whoMay = "there is no helper channel on this platform"

package helperipc

import (
	"os"
	"path/filepath"
	"testing"
)

func testAddress(t *testing.T) string { return filepath.Join(t.TempDir(), "helper.sock") }

func isAdmin() bool { return os.Geteuid() == 0 }

// testClient is a client of a test server, which runs as this process: as
// root, the helper's own account.
func testClient(addr string) *Client { return &Client{Address: addr} }

// impostorClient is a client that insists on a server running as nobody,
// talking to a test server that runs as root: the check is the same one
// the default client makes for root.
func impostorClient(_ *testing.T, addr string) *Client {
	return &Client{Address: addr, Server: "65534"}
}

package helperipc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
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

// TestListenRefusesOthersDirectory: the helper (root) will not make its
// socket in a directory another user owns, nor in one others may write to
// without the sticky bit: it removes, chowns and chmods the socket by name
// there, which such a user could redirect to a file of their choice.
func TestListenRefusesOthersDirectory(t *testing.T) {
	needs.Root(t, "chowns a directory to nobody")
	owned := filepath.Join(t.TempDir(), "nobody")
	shared := filepath.Join(t.TempDir(), "shared")
	for _, d := range []string{owned, shared} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(owned, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{owned: "owned by uid 65534", shared: "writable by others"} {
		ln, err := Listen(Config{Address: filepath.Join(dir, "helper.sock")})
		if err == nil {
			ln.Close()
			t.Errorf("listened in %s", dir)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("listening in %s: %v (want %q)", dir, err, want)
		}
	}
}

package control_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// reloadBackend is a fakeBackend that can reload: it refuses once told to.
type reloadBackend struct {
	fakeBackend
	refuse bool
}

func (b *reloadBackend) Reload(context.Context) (control.ReloadResult, error) {
	if b.refuse {
		return control.ReloadResult{}, errors.New("configuration not reloaded: hypd.toml:2: bad")
	}
	return control.ReloadResult{Applied: []string{"keys"}}, nil
}

// hypd reload: the answer names what was applied; a refusal is the error's whole text, with no
// second "hypd:" prefix; a backend without Reload says how to reload instead.
func TestReloadOverTheSocket(t *testing.T) {
	needs.Root(t, "changing the gateway over the control socket is root's")
	dir := t.TempDir()
	sock := filepath.Join(dir, "hypd.sock")
	b := &reloadBackend{}
	listen(t, sock, b)
	c := control.NewClient(sock)
	res, err := c.Reload(context.Background())
	if err != nil || len(res.Applied) != 1 || res.NeedsRestart == nil {
		t.Fatalf("reload: %+v, %v", res, err)
	}
	b.refuse = true
	_, err = c.Reload(context.Background())
	if err == nil || err.Error() != "configuration not reloaded: hypd.toml:2: bad" {
		t.Fatalf("refused reload: %v", err)
	}
	plain := filepath.Join(dir, "plain.sock")
	listen(t, plain, &fakeBackend{})
	if _, err := control.NewClient(plain).Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "SIGHUP") {
		t.Fatalf("reload of a backend that cannot: %v", err)
	}
	if _, err := control.NewClient(filepath.Join(dir, "none.sock")).Status(context.Background()); !errors.Is(err, control.ErrNotRunning) {
		t.Fatalf("no socket: %v, want ErrNotRunning", err)
	}
}

// Empty lists are [] in the status JSON, never null.
func TestStatusJSONHasNoNull(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hypd.sock")
	listen(t, sock, &fakeBackend{})
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://hypd/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(raw), "null") || !strings.Contains(string(raw), `"grants":[]`) || !strings.Contains(string(raw), `"interfaces":{}`) {
		t.Fatalf("status JSON: %s", raw)
	}
}

// stopBackend records a stop.
type stopBackend struct {
	fakeBackend
	stopped chan struct{}
}

func (b *stopBackend) Stop() { close(b.stopped) }

// hypd stop over the socket: accepted, then the backend stops; a backend that cannot says how.
func TestStopOverTheSocket(t *testing.T) {
	needs.Root(t, "changing the gateway over the control socket is root's")
	dir := t.TempDir()
	sock := filepath.Join(dir, "hypd.sock")
	b := &stopBackend{stopped: make(chan struct{})}
	listen(t, sock, b)
	if err := control.NewClient(sock).Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-b.stopped
	plain := filepath.Join(dir, "plain.sock")
	listen(t, plain, &fakeBackend{})
	if err := control.NewClient(plain).Stop(context.Background()); err == nil || !strings.Contains(err.Error(), "SIGTERM") {
		t.Fatalf("stop of a backend that cannot: %v", err)
	}
}

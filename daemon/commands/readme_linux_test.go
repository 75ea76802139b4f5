package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

// docBlock is the first sh code block after the line starting with after in doc, line by line.
func docBlock(t *testing.T, doc, after string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", doc))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "\n"+after)
	if i < 0 {
		t.Fatalf("%s has no %q", doc, after)
	}
	_, rest, ok := strings.Cut(string(b)[i:], "```sh\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("%s has no sh block after %q", doc, after)
	}
	return strings.Split(strings.TrimSpace(block), "\n")
}

// Issue 21: the README's gateway quick start and the first sections of docs/gateway.md, run as
// written by a new admin on a host without systemd: in a network namespace, with /etc, /var and /run overlaid (the overlays live in the
// private mount namespace of `ip netns exec` and vanish with it), so that hypd init, the default
// config, the keys directory, the log and the control socket are the documented paths. The one
// comment that asks for an edit ("set interfaces = ... in FILE") is done with sed.
func TestREADMEGatewayQuickStart(t *testing.T) {
	needs.Root(t, "network namespaces, mounts, XDP and nftables")
	hypd := testbin.Path(t, "hypd")
	// The README's quick start, then the gateway guide's first key and "start and watch" on the
	// same host, as an admin would read on.
	lines := docBlock(t, "README.md", "On the gateway:")
	lines = append(lines, docBlock(t, "docs/gateway.md", "## 2. Configure")...)
	lines = append(lines, docBlock(t, "docs/gateway.md", "## 3. Start and watch")...)
	lines = append(lines, "hypd stop")
	l := netlab.TempLab(t, fmt.Sprintf("hypreadme-%d", os.Getpid()), 123)
	tmp := t.TempDir()
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, d := range []string{"etc", "var", "run"} {
		up, work := filepath.Join(tmp, "up", d), filepath.Join(tmp, "work", d)
		os.MkdirAll(up, 0o755)
		os.MkdirAll(work, 0o755)
		fmt.Fprintf(&script, "mount -t overlay overlay -o lowerdir=/%s,upperdir=%s,workdir=%s /%s\n", d, up, work, d)
	}
	// Whatever fails, no hypd outlives the test.
	fmt.Fprintf(&script, "trap '%s stop >/dev/null 2>&1 || true' EXIT\n", hypd)
	steps := 0
	for _, line := range lines {
		cmd, _, _ := strings.Cut(line, "#")
		cmd = strings.TrimSpace(cmd)
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "# set interfaces"):
			if !strings.Contains(line, `interfaces = ["eth0"]`) || !strings.Contains(line, "/etc/hyp/hypd.toml") {
				t.Fatalf("README asks for an edit this test does not know: %s", line)
			}
			script.WriteString(`echo "== edit: interfaces and services"` + "\n")
			script.WriteString(`sed -i 's|^interfaces = \[\]|interfaces = ["eth0"]|; s|^services = \[\]|services = ["tcp/22"]|' /etc/hyp/hypd.toml` + "\n")
		case strings.HasPrefix(cmd, "hypd "):
			fmt.Fprintf(&script, "echo %q\n%s%s\n", "== "+cmd, hypd, strings.TrimPrefix(cmd, "hypd"))
			steps++
		case cmd == "", strings.HasPrefix(cmd, "journalctl"):
			// journalctl: there is no journal without systemd; hypd start said where the log is.
		default:
			t.Fatalf("README gateway block has a line this test cannot run: %s", line)
		}
		if strings.HasPrefix(cmd, "hypd start") {
			// While it runs, the documented paths are what hypd uses.
			fmt.Fprintf(&script, "test -S /run/hyp/hypd.sock\ngrep -q 'hypd running' /var/log/hyp/hypd.log\nnft list table inet hyp >/dev/null\n%s status >/dev/null\n", hypd)
		}
	}
	if steps < 12 {
		t.Fatalf("README's gateway block has %d hypd commands; the extraction broke", steps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := l.Gateway.Command(ctx, "sh", "-c", script.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's gateway quick start failed: %v\n%s", err, out)
	}
	for _, want := range []string{"wrote the default config /etc/hyp/hypd.toml", "hyp://gw.example.net?", "config ok: 1 key(s)",
		"started hypd (pid", "reloaded hypd: applied", "stopped hypd (pid", "hyp://gw.example.net?", "█",
		"config ok: 3 key(s)", "hypd is running (pid", `"grants": []`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, out)
		}
	}
	// What it wrote went to the overlays, not to the host's own directories.
	for _, p := range []string{"etc/hyp/hypd.toml", "etc/hyp/keys/laptop.toml", "var/log/hyp/hypd.log"} {
		if _, err := os.Stat(filepath.Join(tmp, "up", p)); err != nil {
			t.Errorf("the quick start did not write /%s: %v", p, err)
		}
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fifth attacker review. Promise 2: a refused config at boot leaves every protected service
// hidden. config.Load opens hypd.toml with O_NONBLOCK and refuses anything but a regular file
// ("a FIFO there must not hang hypd"), but what hypd does after the refusal reads the same path
// again with a plain os.ReadFile (commands.unquotedDuration for the hint, config.ServicesOf,
// StateDirOf and KeysDirOf for the fail-closed start), and opening a FIFO for reading blocks
// until someone writes it. Whoever may create files in the config's directory (the careless
// chmod of the fourth review, one level up) replaces hypd.toml with a FIFO: at every boot hypd
// then hangs before it puts anything in the kernel, the service manager sees no failure to
// retry, and every protected service is reachable by everyone. (A symlink to /dev/zero instead
// makes the same reads run until memory is gone.)
func TestAttack5FIFOConfigHangsTheFailClosedStart(t *testing.T) {
	g := newGateway(t, 154)
	g.newKey("laptop", g.lab.GatewayIP())
	_, conf := g.configIn(g.configText())
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	g.wantServiceHidden(t, "hypd running")
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(conf); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(conf, 0o600); err != nil {
		t.Fatal(err)
	}
	// A boot: no table.
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	out, err := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	checkRace(t, string(out))
	if ctx.Err() != nil {
		if _, lerr := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); lerr != nil {
			t.Fatalf("hypd run with a FIFO as its config hung for %v (killed) and put no table in place: every protected service is open; it said:\n%s", time.Since(start).Round(time.Second), out)
		}
		t.Fatalf("hypd run with a FIFO as its config hung for %v (killed); it said:\n%s", time.Since(start).Round(time.Second), out)
	}
	if !strings.Contains(string(out), "the protection is in place") {
		t.Fatalf("hypd run with a FIFO as its config: %v; want the protection in place:\n%s", err, out)
	}
	g.wantServiceHidden(t, "after a boot with a FIFO as hypd.toml")
}

// The same hang from the fourth review's weaker premise: only hypd.toml itself is writable by
// another user (a careless chmod 0666 of the file). That user points state_dir at a directory of
// their own whose protection.json is a FIFO. At the boot the refused file is read leniently for
// its state_dir (config.StateDirOf, by design), and gateway.FailClosed, holding the instance lock,
// reads that directory's protection.json with os.ReadFile (loadProtection): it blocks for ever,
// before the saved protection in the real state directory is read and before any table exists.
func TestAttack5FIFOProtectionInRefusedStateDirHangs(t *testing.T) {
	g := newGateway(t, 155)
	g.newKey("laptop", g.lab.GatewayIP())
	good := g.configText()
	_, conf := g.configIn(good)
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	g.wantServiceHidden(t, "hypd running")
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(g.dir, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(theirs, "protection.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{theirs, fifo} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(good, g.state, theirs, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	out, _ := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	checkRace(t, string(out))
	if ctx.Err() != nil {
		_, lerr := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp")
		t.Fatalf("hypd run with a refused config naming a state_dir whose protection.json is a FIFO hung for %v (killed); table in place: %v; it said:\n%s", time.Since(start).Round(time.Second), lerr == nil, out)
	}
	g.wantServiceHidden(t, "after a boot with a refused config naming a FIFO protection")
}

// The same class with only the fourth review's premise and nothing but the file: whoever may
// write hypd.toml (chmod 0666) makes it a sparse file of a tebibyte (`truncate -s 1T`, no disk
// needed). The trust check refuses it before reading, but the refusal then reads it whole with
// os.ReadFile (unquotedDuration, ServicesOf, StateDirOf, KeysDirOf), which allocates its size at
// once: the Go runtime dies "out of memory" before anything is put in the kernel, at every
// restart the service manager makes, so after a reboot no table ever hides anything.
func TestAttack5HugeRefusedConfigKillsTheFailClosedStart(t *testing.T) {
	g := newGateway(t, 157)
	g.newKey("laptop", g.lab.GatewayIP())
	_, conf := g.configIn(g.configText())
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	g.wantServiceHidden(t, "hypd running")
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(conf, 1<<40); err != nil {
		t.Fatal(err)
	}
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	checkRace(t, string(out))
	if _, lerr := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); lerr != nil {
		first, _, _ := strings.Cut(string(out), "\n\n")
		t.Fatalf("hypd run with a refused 1 TiB sparse hypd.toml: %v, and no table in place; it said:\n%.2000s", err, first)
	}
	g.wantServiceHidden(t, "after a boot with a refused 1 TiB hypd.toml")
}

// Worse than a hang, from the same premise (only hypd.toml writable by another user): the
// fail-closed start moves root's own saved protection aside. gateway.readLastProtection reads
// the refused file's state directory (the user's) first, and a protection.json there that does
// not parse is "damaged": atomicfile.MoveAside(path) links and removes it by the same path
// string, whose directory part the user may have re-pointed in between. The user makes
// protection.json a FIFO to choose the moment: when hypd opens it, they rename their state
// directory away, put a symlink to the real state directory in its place, and write "x". hypd
// reads "x", and moves the REAL protection.json aside; then reads the real directory and finds
// none. With services emptied in the refused file, nothing is hidden at this boot or any later
// one: the saved protection is gone.
func TestAttack5RefusedStateDirSwapMovesTheRealProtectionAside(t *testing.T) {
	g := newGateway(t, 158)
	g.newKey("laptop", g.lab.GatewayIP())
	good := g.configText()
	_, conf := g.configIn(good)
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	g.wantServiceHidden(t, "hypd running")
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(g.state, "protection.json")
	if _, err := os.Stat(real); err != nil {
		t.Fatalf("no saved protection after a run: %v", err)
	}

	// The user's home (theirs) and state directory in it.
	home := filepath.Join(g.dir, "home")
	st := filepath.Join(home, "st")
	for _, d := range []string{home, st} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fifo := filepath.Join(st, "protection.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{home, st, fifo} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	bad := strings.Replace(good, g.state, st, 1)
	bad = strings.Replace(bad, `services = ["tcp/2222"]`, `services = []`, 1)
	if err := os.WriteFile(conf, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}

	// The user, waiting for hypd to open the FIFO. A hypd that does not wait on it (it opens
	// without blocking and refuses anything but a regular file) gives them no moment to swap:
	// then the assertions below are what counts.
	done := make(chan error, 1)
	hypdDone := make(chan struct{})
	errNeverOpened := fmt.Errorf("hypd never opened %s for long enough to be seen", fifo)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err == nil {
				err = errors.Join(os.Rename(st, st+".old"), os.Symlink(g.state, st))
				_, werr := f.Write([]byte("x"))
				done <- errors.Join(err, werr, f.Close())
				return
			}
			select {
			case <-hypdDone:
				done <- errNeverOpened
				return
			default:
			}
			if time.Now().After(deadline) {
				done <- fmt.Errorf("hypd never opened %s", fifo)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	close(hypdDone)
	checkRace(t, string(out))
	if err := <-done; errors.Is(err, errNeverOpened) {
		t.Logf("the user's part: %v: hypd did not wait on the FIFO", err)
	} else if err != nil {
		t.Fatalf("the user's part: %v\nhypd said:\n%s", err, out)
	}
	_, rerr := os.Stat(real)
	if _, lerr := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); lerr != nil {
		t.Fatalf("after a boot with a refused config whose state directory was swapped: no table; root's %s still there: %v; hypd said:\n%s", real, rerr == nil, out)
	}
	g.wantServiceHidden(t, "after a boot with a refused config whose state directory was swapped")
	if rerr != nil {
		t.Errorf("root's saved protection %s was moved aside by the fail-closed start: %v", real, rerr)
	}
}

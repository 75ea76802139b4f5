package cli_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

const secret = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"

// fakeNet records every socket the CLI opens and what it sent.
type fakeNet struct {
	mu    sync.Mutex // guards conns
	conns []*fakeConn
}

type fakeConn struct {
	net.PacketConn
	mu       sync.Mutex // guards dsts, payloads
	dsts     []netip.AddrPort
	payloads [][]byte
}

func (f *fakeConn) WriteTo(b []byte, a net.Addr) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dsts = append(f.dsts, a.(*net.UDPAddr).AddrPort())
	f.payloads = append(f.payloads, slices.Clone(b))
	return len(b), nil
}
func (f *fakeConn) Close() error { return nil }

func (n *fakeNet) listen(context.Context, string, string) (net.PacketConn, error) {
	c := &fakeConn{}
	n.mu.Lock()
	n.conns = append(n.conns, c)
	n.mu.Unlock()
	return c, nil
}

func (n *fakeNet) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.conns)
}

// noProfiles is a profile store without profiles.
func noProfiles(string) (profile.Profile, bool, error) { return profile.Profile{}, false, nil }

type failResolver struct{}

func (failResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}
}

var fixedNow = time.Unix(1795000000, 0)

func run(t *testing.T, env *cli.Env, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env.Stdout, env.Stderr = &out, &errb
	if env.Now == nil {
		env.Now = func() time.Time { return fixedNow }
	}
	if env.KnockState == nil {
		env.KnockState = &knockstate.Memory{}
	}
	code := cli.Run(context.Background(), env, args)
	for _, s := range []string{out.String(), errb.String()} {
		if strings.Contains(s, secret) || strings.Contains(s, secret[:16]) {
			t.Fatalf("output leaks the secret: %q", s)
		}
	}
	return code, out.String(), errb.String()
}

func keyFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKnockReferenceSpelling(t *testing.T) {
	key := keyFile(t, strings.ToLower(secret)+"\n")
	for _, tc := range []struct {
		args    []string
		scheme  sequence.Params
		payload []byte
	}{
		{[]string{"knock", "192.0.2.1", "--secret", key, "--maxjitter", "3", "--scheme", "hyp"}, sequence.HypDefaults(), []byte{0}},
		{[]string{"knock", "--secret=" + key, "192.0.2.1", "-gap", "1ms"}, sequence.Defaults(), nil},
	} {
		var fn fakeNet
		code, _, stderr := run(t, &cli.Env{Listen: fn.listen}, tc.args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.args, code, stderr)
		}
		k, _ := psk.Parse(secret)
		want, _ := sequence.PortsAt(k, tc.scheme, fixedNow.Unix(), 0)
		if len(fn.conns) != 1 {
			t.Fatalf("%d sockets", len(fn.conns))
		}
		var got []uint16
		for i, d := range fn.conns[0].dsts {
			got = append(got, d.Port())
			if d.Addr() != netip.MustParseAddr("192.0.2.1") || !bytes.Equal(fn.conns[0].payloads[i], tc.payload) {
				t.Errorf("datagram %d to %v payload %x", i, d, fn.conns[0].payloads[i])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: sent %v, want %v", tc.args, got, want)
		}
	}
}

func TestKnockRefreshUntilInterrupted(t *testing.T) {
	var fn fakeNet
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		waitfor.Until(10*time.Second, func() bool { return fn.count() >= 3 })
		cancel()
	}()
	var errb bytes.Buffer
	code := cli.Run(ctx, &cli.Env{Listen: fn.listen, Stderr: &errb, KnockState: &knockstate.Memory{}}, []string{"knock", "hyp://192.0.2.1?secret=" + secret, "--refresh", "5ms", "--gap", "0s"})
	if code != 0 || fn.count() < 3 {
		t.Fatalf("exit %d after %d knocks: %s", code, fn.count(), errb.String())
	}

	// --refreshtime is in minutes: one knock, then waiting until interrupted.
	var fn2 fakeNet
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		waitfor.Until(10*time.Second, func() bool { return fn2.count() >= 1 })
		// Room for a wrong second knock, which the count below would catch.
		time.Sleep(20 * time.Millisecond)
		cancel2()
	}()
	code = cli.Run(ctx2, &cli.Env{Listen: fn2.listen, KnockState: &knockstate.Memory{}}, []string{"knock", "hyp://192.0.2.1?secret=" + secret, "--refreshtime", "1"})
	if code != 0 || fn2.count() != 1 {
		t.Fatalf("--refreshtime: exit %d after %d knocks", code, fn2.count())
	}
}

func TestExitCodesInProcess(t *testing.T) {
	key := keyFile(t, secret)
	uri := "hyp://192.0.2.1?secret=" + secret
	cases := []struct {
		name string
		env  cli.Env
		args []string
		code int
		want string
	}{
		{"no args", cli.Env{}, nil, 2, ""},
		{"unknown command", cli.Env{}, []string{"bogus"}, 2, `unknown command "bogus"`},
		{"unknown flag", cli.Env{}, []string{"knock", "--bogus", uri}, 2, "unknown flag --bogus"},
		{"no target", cli.Env{}, []string{"knock"}, 2, "missing TARGET"},
		{"two targets", cli.Env{}, []string{"knock", uri, uri}, 2, "want one TARGET"},
		{"host without key", cli.Env{}, []string{"knock", "gw.example"}, 2, "--secret FILE"},
		{"bad host", cli.Env{}, []string{"knock", "gw:22", "--secret", key}, 2, "port is not allowed"},
		{"bad scheme", cli.Env{}, []string{"knock", uri, "--scheme", "v9"}, 2, "--scheme"},
		{"bad check", cli.Env{}, []string{"knock", uri, "--check", "udp/1"}, 2, "--check"},
		{"both refresh", cli.Env{}, []string{"knock", uri, "--refresh", "1s", "--refreshtime", "1"}, 2, "not both"},
		{"negative jitter", cli.Env{}, []string{"knock", uri, "--maxjitter", "-1"}, 2, "--maxjitter"},
		{"unknown host", cli.Env{Resolver: failResolver{}}, []string{"knock", "gw.example", "--secret", key}, 2, "no such host"},
		{"unknown host refresh", cli.Env{Resolver: failResolver{}}, []string{"knock", "gw.example", "--secret", key, "--refresh", "1h"}, 2, "no such host"},
		{"stdin not a URI", cli.Env{Stdin: strings.NewReader("gw.example\n")}, []string{"sequence", "-"}, 2, "stdin"},
		{"bad counter", cli.Env{}, []string{"sequence", uri, "--counter", "5000000000"}, 2, "32 bits"},
		{"hyp counter", cli.Env{}, []string{"sequence", uri, "--scheme", "hyp", "--counter", "1"}, 2, "counter"},
		{"other scheme with a secret", cli.Env{}, []string{"sequence", "http://gw.example?secret=" + secret}, 2, "http://gw.example?secret=… is not a hyp:// URI"},
		{"mistyped profile", cli.Env{LookupProfile: noProfiles}, []string{"knock", "ofice"}, 2, `no saved profile "ofice" (hyp profile list shows them)`},
		{"bad duration", cli.Env{}, []string{"knock", uri, "--gap", "5"}, 2, `--gap "5": not a duration such as 500ms, 30s or 5m`},
		{"flag without value", cli.Env{}, []string{"knock", uri, "--check"}, 2, "flag --check needs a value"},
		{"group without verb", cli.Env{}, []string{"profile"}, 2, "hyp profile VERB"},
		{"unknown verb", cli.Env{}, []string{"helper", "frob"}, 2, `unknown verb "frob"`},
		{"bad shell", cli.Env{}, []string{"completion", "tcsh"}, 2, `unknown shell "tcsh"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var fn fakeNet
			if c.env.Listen == nil {
				c.env.Listen = fn.listen
			}
			code, _, stderr := run(t, &c.env, c.args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d stderr %q, want %d and %q", code, stderr, c.code, c.want)
			}
			if code == 2 && c.args != nil && c.name != "group without verb" && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("reason is not one line: %q", stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		code, out, _ := run(t, &cli.Env{}, args...)
		if code != 0 || !strings.Contains(out, "knock") || !strings.Contains(out, "sequence") {
			t.Errorf("%q: exit %d: %q", args, code, out)
		}
	}
	for _, c := range cli.Commands() {
		words := strings.Fields(c.Name)
		for _, args := range [][]string{append([]string{"help"}, words...), append(slices.Clone(words), "-h"), append(slices.Clone(words), "--help")} {
			code, out, _ := run(t, &cli.Env{}, args...)
			if code != 0 || !strings.Contains(out, "Usage: hyp "+c.Name) {
				t.Errorf("%q: exit %d: %q", args, code, out)
			}
		}
	}
	_, out, _ := run(t, &cli.Env{}, "help", "knock")
	for _, flag := range []string{"-secret", "-scheme", "-gap", "-check", "-refresh", "-maxjitter", "-refreshtime"} {
		if !strings.Contains(out, flag) {
			t.Errorf("knock help lacks %s", flag)
		}
	}
	code, out, _ := run(t, &cli.Env{Version: "v9.9.9"}, "version")
	if code != 0 || !strings.HasPrefix(out, "hyp v9.9.9 go") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestSavedProfileHook(t *testing.T) {
	k, _ := psk.Parse(secret)
	saved := profile.Profile{Name: "home", Host: "192.0.2.9", Key: k, Params: sequence.Defaults()}
	env := &cli.Env{LookupProfile: func(name string) (profile.Profile, bool, error) {
		if name == "home" {
			return saved, true, nil
		}
		if name == "broken" {
			return profile.Profile{}, false, errors.New("keyring locked")
		}
		return profile.Profile{}, false, nil
	}}
	code, out, _ := run(t, env, "sequence", "home")
	want, _ := sequence.PortsAt(k, saved.Params, fixedNow.Unix(), 0)
	if code != 0 || strings.TrimSpace(out) != portsLine(want) {
		t.Errorf("saved profile: %d %q, want %v", code, out, want)
	}
	if code, _, stderr := run(t, env, "sequence", "broken"); code != 2 || !strings.Contains(stderr, "keyring locked") {
		t.Errorf("broken profile: %d %q", code, stderr)
	}
	if code, _, stderr := run(t, env, "sequence", "other"); code != 2 || !strings.Contains(stderr, "--secret") {
		t.Errorf("unknown name: %d %q", code, stderr)
	}
}

// portsLine is the output format of hyp sequence.
func portsLine(ports []uint16) string {
	words := make([]string, len(ports))
	for i, p := range ports {
		words[i] = strconv.Itoa(int(p))
	}
	return strings.Join(words, " ")
}

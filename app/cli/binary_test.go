package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, "hyp", "hypd")) }

type result struct {
	code           int
	stdout, stderr string
}

// hyp runs the binary and fails the test if any output holds a secret.
func hyp(t *testing.T, bin, stdin string, secrets []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	// Each run its own knock state: the cases knock one key more often
	// than a time step has unspent sequences.
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running hyp: %v", err)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Fatalf("hyp %q printed a secret: stdout %q stderr %q", args, r.stdout, r.stderr)
		}
	}
	return r
}

type vectorCase struct {
	Secret    string
	Time      int64
	Step      int64
	Length    int
	Low, High uint16
	Counter   uint32
	Ports     []uint16
}

func loadVectors(t *testing.T, name string) (string, []vectorCase) {
	b, err := os.ReadFile(filepath.Join("..", "..", "core", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Scheme string
		Cases  []vectorCase
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v.Scheme, v.Cases
}

func TestBinarySequenceVectors(t *testing.T) {
	bin := testbin.Path(t, "hyp")
	n := 0
	for _, file := range []string{"knock-v2.json", "knock-hyp.json"} {
		scheme, cases := loadVectors(t, file)
		for i, c := range cases {
			uri := "hyp://gw.example.com?secret=" + c.Secret + "&scheme=" + scheme
			if scheme == "v2" {
				uri += fmt.Sprintf("&length=%d&step=%d&low=%d&high=%d", c.Length, c.Step, c.Low, c.High)
			}
			args := []string{"sequence", "--time", fmt.Sprint(c.Time), "--counter", fmt.Sprint(c.Counter), uri}
			stdin := ""
			if i%5 == 0 { // some cases through stdin, flags after the target
				args = []string{"sequence", "-", "--time", fmt.Sprint(c.Time), "--counter", fmt.Sprint(c.Counter)}
				stdin = uri + "\n"
			}
			r := hyp(t, bin, stdin, []string{c.Secret}, args...)
			if r.code != 0 || r.stdout != portsLine(c.Ports)+"\n" {
				t.Errorf("%s case %d: exit %d stdout %q stderr %q, want %q", file, i, r.code, r.stdout, r.stderr, portsLine(c.Ports))
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d vector cases ran", n)
	}

	// A host with the reference client's key file (500 bytes, newline).
	raw := make([]byte, 500)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	k, _ := psk.New(raw)
	file := keyFile(t, k.Encode()+"\n")
	want, _ := sequence.PortsAt(k, sequence.HypDefaults(), 1795000000, 0)
	r := hyp(t, bin, "", []string{k.Encode()[:16]}, "sequence", "gw.example.com", "--secret", file, "--scheme", "hyp", "--time", "1795000000")
	if r.code != 0 || r.stdout != portsLine(want)+"\n" {
		t.Errorf("host + --secret: exit %d %q %q, want %v", r.code, r.stdout, r.stderr, want)
	}
}

type datagram struct {
	port    uint16
	from    netip.AddrPort
	at      time.Time
	payload []byte
}

// listenRange binds UDP on n consecutive ports of ip, so a profile with
// low..high over them receives every knock.
func listenRange(t *testing.T, ip string, n int) (uint16, <-chan datagram) {
	t.Helper()
	for range 50 {
		low := uint16(20000 + rand.N(30000))
		var conns []*net.UDPConn
		for p := low; p < low+uint16(n); p++ {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), p)))
			if err != nil {
				break
			}
			conns = append(conns, c)
		}
		if len(conns) < n {
			for _, c := range conns {
				c.Close()
			}
			continue
		}
		ch := make(chan datagram, 64)
		for i, c := range conns {
			t.Cleanup(func() { c.Close() })
			rc, err := newRxConn(c)
			if err != nil {
				t.Fatal(err)
			}
			port := low + uint16(i)
			go func() {
				buf := make([]byte, 2048)
				for {
					n, from, at, err := rc.read(buf)
					if err != nil {
						return
					}
					ch <- datagram{port: port, from: from, at: at, payload: slices.Clone(buf[:n])}
				}
			}()
		}
		return low, ch
	}
	t.Fatalf("no %d free consecutive UDP ports on %s", n, ip)
	return 0, nil
}

func TestBinaryKnock(t *testing.T) {
	bin := testbin.Path(t, "hyp")
	k, _ := psk.Parse(secret)
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			if ip == "::1" {
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					needs.Missing(t, fmt.Sprintf("no IPv6 loopback in this kernel: %v", err))
				} else {
					c.Close()
				}
			}
			const n, length, gap = 8, 5, 60 * time.Millisecond
			low, arrivals := listenRange(t, ip, n)
			p := sequence.Params{Scheme: sequence.V2, Length: length, Step: 3600, Low: low, High: low + n - 1}
			host := ip
			if strings.Contains(ip, ":") {
				host = "[" + ip + "]"
			}
			uri := fmt.Sprintf("hyp://%s?secret=%s&length=%d&step=3600&low=%d&high=%d", host, secret, length, low, low+n-1)
			for attempt := 0; ; attempt++ {
				before := time.Now().Unix()
				r := hyp(t, bin, "", []string{secret}, "knock", uri, "--gap", gap.String())
				after := time.Now().Unix()
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				var got []datagram
				for len(got) < length {
					select {
					case d := <-arrivals:
						got = append(got, d)
					case <-time.After(5 * time.Second):
						t.Fatalf("%d of %d datagrams arrived", len(got), length)
					}
				}
				if p.Window(before) != p.Window(after) {
					if attempt > 2 {
						t.Fatal("time step changed during every attempt")
					}
					continue // crossed a time step boundary; knock again
				}
				want, _ := sequence.PortsAt(k, p, before, 0)
				var order []uint16
				for i, d := range got {
					order = append(order, d.port)
					if d.from != got[0].from {
						t.Errorf("datagram %d from %v, first from %v: want one source port", i, d.from, got[0].from)
					}
					if len(d.payload) != 0 {
						t.Errorf("v2 payload %x, want empty", d.payload)
					}
					if i > 0 {
						if g := d.at.Sub(got[i-1].at); g < gap {
							t.Errorf("gap before datagram %d was %v, want >= %v", i, g, gap)
						}
					}
				}
				if !slices.Equal(order, want) {
					t.Errorf("arrived in order %v, want %v", order, want)
				}
				return
			}
		})
	}
}

func TestBinaryExitCodes(t *testing.T) {
	bin := testbin.Path(t, "hyp")
	key := keyFile(t, secret+"\n")
	uri := "hyp://127.0.0.1?secret=" + secret + "&low=40000&high=40100"

	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	closedL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closedL.Addr().(*net.TCPAddr).Port
	closedL.Close()

	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"knock", "", []string{"knock", uri}, 0, ""},
		{"check answers", "", []string{"knock", uri, "--check", fmt.Sprintf("tcp/%d", open.Addr().(*net.TCPAddr).Port)}, 0, ""},
		{"check in URI", "", []string{"knock", fmt.Sprintf("%s&check=tcp/%d", uri, open.Addr().(*net.TCPAddr).Port)}, 0, ""},
		{"stdin", uri, []string{"knock", "-"}, 0, ""},
		{"reference spelling", "", []string{"knock", "127.0.0.1", "--secret", key, "--maxjitter", "5"}, 0, ""},
		{"check never answers", "", []string{"knock", uri, "--check", fmt.Sprintf("tcp/%d", closedPort), "--check-wait", "400ms"}, 1, "no answer from tcp/"},
		{"bad URI", "", []string{"knock", "hyp://127.0.0.1?secret=" + secret + "&length=40"}, 2, `parameter "length": must be 2..32, got 40`},
		{"bad secret in URI", "", []string{"knock", "hyp://127.0.0.1?secret=" + secret[:20] + "1" + secret[21:]}, 2, `parameter "secret"`},
		{"missing key file", "", []string{"knock", "127.0.0.1", "--secret", filepath.Join(t.TempDir(), "nope.key")}, 2, "nope.key"},
		{"unreadable key", "", []string{"knock", "127.0.0.1", "--secret", keyFile(t, "not base32 at all!")}, 2, "not base32"},
		{"unknown host", "", []string{"knock", "nonexistent.invalid", "--secret", key}, 2, "nonexistent.invalid"},
		{"no target", "", []string{"knock"}, 2, "missing TARGET"},
		{"no command", "", nil, 2, "Usage"},
		{"help", "", []string{"help"}, 0, ""},
		{"version", "", []string{"version"}, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hyp(t, bin, c.stdin, []string{secret, secret[:16], secret[20:36]}, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d stderr %q, want %d and %q", r.code, r.stderr, c.code, c.want)
			}
			if c.code == 2 && c.args != nil && strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 {
				t.Errorf("bad input should give one line on stderr, got %q", r.stderr)
			}
		})
	}
}

// TestBinaryConcurrentKnocksTakeDifferentUses: hyp processes knocking one key
// at once, sharing the user's knock state, each send a different sequence.
func TestBinaryConcurrentKnocksTakeDifferentUses(t *testing.T) {
	bin := testbin.Path(t, "hyp")
	state := t.TempDir()
	uri := "hyp://127.0.0.1?secret=" + secret + "&step=3600&low=40000&high=40100"
	const n = 3
	outs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			cmd := exec.Command(bin, "knock", "-v", "--gap", "0s", uri)
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
			out, err := cmd.CombinedOutput()
			if err != nil {
				out = append(out, []byte(" error: "+err.Error())...)
			}
			outs <- string(out)
		}()
	}
	use := regexp.MustCompile(`\(time step ([0-9]+), use ([0-9]+)\)`)
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		out := <-outs
		m := use.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("hyp knock -v does not name the use it sent:\n%s", out)
		}
		if seen[m[0]] {
			t.Fatalf("two concurrent knocks sent %s", m[0])
		}
		seen[m[0]] = true
	}
	b, err := os.ReadFile(filepath.Join(state, "hyp", "knocks.json"))
	if err != nil || bytes.Contains(b, []byte(secret[:16])) || strings.Count(string(b), `"w":`) != n {
		t.Fatalf("knock state %s (%v): want %d uses and no key", b, err, n)
	}
}

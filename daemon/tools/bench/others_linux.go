package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// knockdSequence is knockd's sequence: four UDP ports, as long as a hyp knock.
func knockdSequence() []uint16 { return []uint16{17001, 27002, 37003, 47004} }

// knockd measures Debian's knockd (libpcap on the interface). Its command adds the source to an
// nft set of a table like hyp's, so a grant costs one nft process instead of one netlink message.
func (b *bench) knockd() error {
	l := b.lab
	knockdPorts := knockdSequence()
	if _, err := exec.LookPath("knockd"); err != nil {
		b.notes = append(b.notes, "knockd is not installed: not measured")
		return nil
	}
	ruleset := fmt.Sprintf(`table inet knockbench {
	set allow { type ipv4_addr; }
	chain input {
		type filter hook input priority -10; policy accept;
		ct state established,related accept
		tcp dport %d ip saddr @allow accept
		tcp dport %d drop
	}
}
`, servicePort, servicePort)
	rules := filepath.Join(b.dir, "knockbench.nft")
	if err := os.WriteFile(rules, []byte(ruleset), 0o600); err != nil {
		return err
	}
	if _, err := l.Gateway.Output("nft", "-f", rules); err != nil {
		return err
	}
	defer l.Gateway.Output("nft", "delete", "table", "inet", "knockbench")

	nft, err := exec.LookPath("nft")
	if err != nil {
		return err
	}
	seq := make([]string, len(knockdPorts))
	for i, p := range knockdPorts {
		seq[i] = fmt.Sprintf("%d:udp", p)
	}
	conf := filepath.Join(b.dir, "knockd.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`[options]
	Interface = %s
	LogFile = %s
	PidFile = %s

[open]
	sequence = %s
	seq_timeout = 5
	command = %s add element inet knockbench allow { %%IP%% }
`, netlab.Iface, filepath.Join(b.dir, "knockd.log"), filepath.Join(b.dir, "knockd.pid"), strings.Join(seq, ","), nft)), 0o600)
	if err != nil {
		return err
	}
	kd, err := l.Gateway.Start("knockd", "-c", conf, "-i", netlab.Iface, "-v")
	if err != nil {
		return err
	}
	defer kd.Kill()
	if err := kd.WaitOutput("listening on", 10*time.Second); err != nil {
		return err
	}
	fmt.Printf("knockd: pid %d\n", kd.PID())

	lat, err := b.latency(func(_ int, src netip.Addr) error {
		return b.sendFrom(src, l.GatewayIP(), nil, knockdPorts)
	})
	if err != nil {
		return err
	}
	b.addLatency("knockd", lat)
	if err := b.underFlood("knockd", func() error {
		_, err := l.Gateway.Output("nft", "flush", "set", "inet", "knockbench", "allow")
		return err
	}, func(_ int, src netip.Addr) error {
		return b.sendFrom(src, l.GatewayIP(), nil, knockdPorts)
	}); err != nil {
		return err
	}
	b.notes = append(b.notes, "knockd compiles its sequence's ports into its pcap filter, so the kernel discards a "+
		"random-port flood before knockd sees it; a flood at one of its ports reaches it whole.")
	for _, f := range []struct {
		kind  floodKind
		name  string
		ports []uint16
	}{{floodRandom, "random ports", nil}, {floodAimed, fmt.Sprintf("its first knock port (%d)", knockdPorts[0]), knockdPorts[:1]}} {
		fr, err := b.floodCPU(kd, f.ports)
		if err != nil {
			return err
		}
		b.add("knockd", "flood to "+f.name+": sent", "%d datagrams, %.0f/s", fr.sent, fr.rate)
		b.add("knockd", "flood to "+f.name+": knockd CPU", "%.3f s", fr.cpu.Seconds())
		b.recordCPU(f.kind, "knockd", fr.cpu)
	}
	return nil
}

// fwknopPort is fwknopd's default SPA port.
const fwknopPort = 62201

// fwknopd measures fwknopd (libpcap with the filter "udp port 62201"; grants by iptables rules).
// Its single packet authorization is one datagram, made ahead by the fwknop client (-T -B), so
// that the latency runs from that datagram leaving to the first successful connect.
func (b *bench) fwknopd() error {
	l := b.lab
	for _, prog := range []string{"fwknopd", "fwknop", "iptables"} {
		if _, err := exec.LookPath(prog); err != nil {
			b.notes = append(b.notes, prog+" is not installed: fwknopd not measured")
			return nil
		}
	}
	home := filepath.Join(b.dir, "fwknop")
	if err := os.MkdirAll(filepath.Join(home, "run"), 0o700); err != nil {
		return err
	}
	// HOME keeps the client's rc file in the temporary directory.
	env := append(os.Environ(), "HOME="+home)
	fw := func(args ...string) ([]byte, error) {
		c := exec.Command("fwknop", args...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("fwknop %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return out, nil
	}
	out, err := fw("--key-gen")
	if err != nil {
		return err
	}
	var key, hmac string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "KEY_BASE64: "); ok {
			key = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "HMAC_KEY_BASE64: "); ok {
			hmac = strings.TrimSpace(v)
		}
	}
	if key == "" || hmac == "" {
		return fmt.Errorf("fwknop --key-gen printed no keys")
	}
	// The SPA packets, one per knock (-a: the address to open for): the latency's, then those
	// sent under the floods. Each can be used once (fwknopd's digest cache).
	packets := make([][]byte, len(b.sources)+len(floodKinds)*b.o.floodKnocks)
	for i := range packets {
		src := b.sources[i%len(b.sources)]
		if i >= len(b.sources) {
			src = b.sources[(i-len(b.sources))%b.o.floodKnocks]
		}
		file := filepath.Join(home, fmt.Sprintf("spa-%d", i))
		if _, err := fw("-A", fmt.Sprintf("tcp/%d", servicePort), "-a", src.String(), "-D", l.GatewayIP().String(),
			"--key-base64-rijndael", key, "--key-base64-hmac", hmac, "-T", "-B", file); err != nil {
			return err
		}
		p, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		packets[i] = []byte(strings.TrimSpace(string(p)))
	}

	conf := filepath.Join(home, "fwknopd.conf")
	access := filepath.Join(home, "access.conf")
	ipt, _ := exec.LookPath("iptables")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("PCAP_INTF %s;\nFIREWALL_EXE %s;\n", netlab.Iface, ipt)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(access, []byte(fmt.Sprintf("SOURCE ANY\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nOPEN_PORTS tcp/%d\nFW_ACCESS_TIMEOUT 300\n",
		key, hmac, servicePort)), 0o600); err != nil {
		return err
	}
	// The protected service, hidden the iptables way; fwknopd puts its jump to FWKNOP_INPUT first.
	// Gone with the phase: the DROP and fwknopd's grants (FW_ACCESS_TIMEOUT 300) would otherwise
	// decide what the later phases' sources can reach (a source fwknopd never granted could not
	// connect however hypd answered its knock).
	defer func() {
		_, _ = l.Gateway.Output(ipt, "-F")
		_, _ = l.Gateway.Output(ipt, "-X")
	}()
	for _, rule := range [][]string{
		{"-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "INPUT", "-p", "tcp", "--dport", fmt.Sprint(servicePort), "-j", "DROP"},
	} {
		if _, err := l.Gateway.Output(ipt, rule...); err != nil {
			return err
		}
	}
	fd, err := l.Gateway.Start("fwknopd", "-f", "-c", conf, "-a", access, "-i", netlab.Iface,
		"-d", filepath.Join(home, "digest.cache"), "-p", filepath.Join(home, "fwknopd.pid"), "-r", filepath.Join(home, "run"))
	if err != nil {
		return err
	}
	defer fd.Kill()
	if err := fd.WaitOutput("Sniffing interface", 10*time.Second); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // the capture opens just after the message
	fmt.Printf("fwknopd: pid %d\n", fd.PID())

	lat, err := b.latency(func(i int, src netip.Addr) error {
		return b.sendFrom(src, l.GatewayIP(), packets[i], []uint16{fwknopPort})
	})
	if err != nil {
		return err
	}
	b.addLatency("fwknopd", lat)
	next := len(b.sources)
	if err := b.underFlood("fwknopd", func() error {
		_, err := l.Gateway.Output(ipt, "-F", "FWKNOP_INPUT")
		return err
	}, func(_ int, src netip.Addr) error {
		p := packets[next]
		next++
		return b.sendFrom(src, l.GatewayIP(), p, []uint16{fwknopPort})
	}); err != nil {
		return err
	}
	b.notes = append(b.notes, "fwknopd sleeps PCAP_LOOP_SLEEP (default 100 ms) between reads of its capture, "+
		"which sets its latency; under a flood at its port the kernel's capture buffer overflows and drops the rest.")
	for _, f := range []struct {
		kind  floodKind
		name  string
		ports []uint16
	}{{floodRandom, "random ports", nil}, {floodAimed, fmt.Sprintf("its SPA port (%d)", fwknopPort), []uint16{fwknopPort}}} {
		fr, err := b.floodCPU(fd, f.ports)
		if err != nil {
			return err
		}
		b.add("fwknopd", "flood to "+f.name+": sent", "%d datagrams, %.0f/s", fr.sent, fr.rate)
		b.add("fwknopd", "flood to "+f.name+": fwknopd CPU", "%.3f s", fr.cpu.Seconds())
		b.recordCPU(f.kind, "fwknopd", fr.cpu)
	}
	return nil
}

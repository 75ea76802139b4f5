//go:build linux

package firewall

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/hideyourports/hyp/internal/netns"
)

// flowLabels says whether and how the kernel labels the IPv6 flows of the RSTs it sends for
// unused ports, so that the output chain can label the RSTs of our reject alike (see
// flowLabelRule). The kernel hashes the flow with a secret seed; ours is a secret seed too, so
// the two labels are alike to anyone who does not know both.
type flowLabels struct {
	on        bool   // net.ipv6.auto_flowlabels is 1 (the default) or 3
	stateless bool   // net.ipv6.flowlabel_state_ranges: the label's top bit is set
	seed      uint32 // this Firewall's hash seed, random
}

// readFlowLabels reads the IPv6 flow label settings of the namespace open as netnsFD (0: ours).
// Without IPv6 (no such sysctl) there is nothing to label.
func readFlowLabels(netnsFD int) (flowLabels, error) {
	var fl flowLabels
	var auto, ranges int
	err := netns.Do(netnsFD, func() error {
		var err error
		if auto, err = readSysctl("net/ipv6/auto_flowlabels"); err != nil {
			return err
		}
		ranges, err = readSysctl("net/ipv6/flowlabel_state_ranges")
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return fl, nil
	}
	if err != nil {
		return fl, fmt.Errorf("reading IPv6 flow label settings: %w", err)
	}
	// IP6_AUTO_FLOW_LABEL_OPTOUT and _FORCED label the kernel's own RSTs; OFF and OPTIN do not.
	fl.on = auto == 1 || auto == 3
	fl.stateless = ranges != 0
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fl, fmt.Errorf("choosing a flow label seed: %w", err)
	}
	fl.seed = binary.LittleEndian.Uint32(b[:])
	return fl, nil
}

func readSysctl(name string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("sysctl %s: %q is not a number", strings.ReplaceAll(name, "/", "."), b)
	}
	return n, nil
}

package commands

import (
	"context"
	"fmt"
	"os"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/gateway"
)

// hypdClient is a control client that talks only to the hypd of this network namespace: the
// process serving the socket must be want (the pid hypd start started) or, with want 0, the
// holder of this namespace's instance lock. Another namespace's hypd may serve the same path
// (the attacker review, F3); reload and stop must not reach it. Where the kernel names no pid
// (another pid namespace), sameNetNS decides from the status.
func hypdClient(socket string, want int) *control.Client {
	own := control.NetNS()
	return control.NewCheckedClient(socket, func(pid int) error {
		if pid == 0 {
			return nil // not visible from here: sameNetNS compares the namespaces
		}
		if want > 0 {
			if pid != want {
				return fmt.Errorf("%s is served by pid %d, not by the hypd started (pid %d); nothing was asked of it", socket, pid, want)
			}
			return nil
		}
		holder, held, err := gateway.LockHolder(firewall.DefaultTable)
		switch {
		case err != nil:
			return err
		case !held:
			return fmt.Errorf("%s is served by pid %d, but no hypd runs in this network namespace: that is another namespace's hypd; nothing was asked of it (give --socket of this namespace's hypd)", socket, pid)
		case holder > 0 && holder != pid:
			return fmt.Errorf("%s is served by pid %d, not by this network namespace's hypd (pid %d); nothing was asked of it (give --socket of pid %d)", socket, pid, holder, holder)
		case holder > 0:
			return nil
		}
		if ns := control.NetNSOf(pid); ns != own {
			return fmt.Errorf("%s is served by pid %d in another network namespace; nothing was asked of it (give --socket of this namespace's hypd)", socket, pid)
		}
		return nil
	})
}

// sameNetNS asks the hypd behind c for its status and refuses one in another network namespace:
// where the kernel names no pid, the namespace it reports (to root alone) is what is left.
func sameNetNS(ctx context.Context, c *control.Client, socket string) (control.Status, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return st, err
	}
	if os.Geteuid() != 0 {
		return st, nil // not told to others; and only root may reload or stop
	}
	if own := control.NetNS(); st.NetNS != own {
		return st, fmt.Errorf("the hypd answering on %s runs in another network namespace (net:[%d]; this is net:[%d]); nothing was asked of it (give --socket of this namespace's hypd)", socket, st.NetNS, own)
	}
	return st, nil
}

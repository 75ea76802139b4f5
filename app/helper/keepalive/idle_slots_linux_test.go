package keepalive_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

// TestIPCIdleConnectionsLeaveRoomForRoot: AdminConns of the MaxConns slots are root's ("a
// member of the helper's group who opens connection after connection must leave room for the
// others and for root"). A user who opens MaxConns connections and never sends a request holds
// every slot until the header timeout, and can open them again at once: root's request must
// still be served.
func TestIPCIdleConnectionsLeaveRoomForRoot(t *testing.T) {
	if addr := os.Getenv("HYP_IPC_IDLE_ADDR"); addr != "" {
		var held []net.Conn
		for range helperipc.MaxConns {
			c, err := net.Dial("unix", addr)
			if err != nil {
				fmt.Printf("dial: %v\n", err)
				os.Exit(1)
			}
			held = append(held, c)
		}
		fmt.Println("ready")
		time.Sleep(3 * time.Second)
		for _, c := range held {
			c.Close()
		}
		return
	}
	h := startIPCHelper(t, helperipc.Config{Group: "hyp-no-such-group", Mode: 0o666, UIDs: []int{65534}})
	tmp, bin := testbin.CopySelf(t)
	cmd := exec.Command(bin, "-test.run", "^TestIPCIdleConnectionsLeaveRoomForRoot$")
	cmd.Env = append(os.Environ(), "HYP_IPC_IDLE_ADDR="+h.addr)
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("the idle user's process: %q %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := h.client().List(ctx); err != nil {
		t.Fatalf("root's list while a user holds %d idle connections: %v", helperipc.MaxConns, err)
	}
}

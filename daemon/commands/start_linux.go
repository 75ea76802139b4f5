//go:build linux

package commands

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// startBackground runs `hypd run --config path --socket f.socket` detached from this terminal
// (its own session, stdin /dev/null, output appended to f.log) and waits until it answers on the
// socket: by then it holds the instance lock and its table is in place. A hypd that exits first
// fails the start with the end of its log.
func startBackground(ctx context.Context, e *env, path string, f startFlags) (int, error) {
	self, err := selfPath()
	if err != nil {
		return 0, err
	}
	logf, err := openLog(f.log)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	offset, err := logf.Seek(0, 2)
	if err != nil {
		return 0, fmt.Errorf("log file %s: %w", f.log, err)
	}
	cmd := exec.Command(self, "run", "--config", path, "--socket", f.socket)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting hypd run: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	err = waitAnswer(ctx, pid, f.socket, f.wait, exited)
	if errors.Is(err, errExited) {
		<-exited
		return pid, fmt.Errorf("hypd run exited at once (%v): %s", waitErr, lastLines(logf, offset, 3))
	}
	if err != nil {
		return pid, fmt.Errorf("hypd run (pid %d) %w; it keeps running, see %s (hypd stop stops it)", pid, err, f.log)
	}
	return pid, nil
}

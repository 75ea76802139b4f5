package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// ExecLauncher runs the VPN command with os/exec: argv as given, no shell.
// On cancel the process gets SIGTERM (on Windows, where there is no such
// signal, it is killed) and, after StopGrace, SIGKILL.
type ExecLauncher struct {
	Stdout, Stderr io.Writer     // nil => discarded
	Env            []string      // nil => this process's environment
	StopGrace      time.Duration // 0 => DefaultStopGrace
}

// Start implements Launcher.
func (l *ExecLauncher) Start(ctx context.Context, argv []string) (Process, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Env = l.Stdout, l.Stderr, l.Env
	cmd.Cancel = func() error { return terminate(cmd) }
	cmd.WaitDelay = l.StopGrace
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = DefaultStopGrace
	}
	if err := cmd.Start(); err != nil {
		return nil, startError(argv[0], err)
	}
	return execProcess{cmd}, nil
}

type execProcess struct{ cmd *exec.Cmd }

// Wait reports how the command ended in words: "exit status 1" is clear
// enough, but a signal is named.
func (p execProcess) Wait() error {
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		return fmt.Errorf("killed (%v)", ee.ProcessState)
	}
	return err
}

package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hideyourports/hyp/app/command"
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

// commandError is a failure of the VPN command told without naming it: exec's errors carry
// argv[0] or the path it resolved to ("fork/exec /usr/bin/wg-quick: permission denied"),
// and a helper profile's command is not for its users to read. Unwrap is the launcher's own
// error, for the command's owner.
type commandError struct {
	text string
	err  error
}

func (e *commandError) Error() string { return e.text }
func (e *commandError) Unwrap() error { return e.err }

// commandCause is why the command failed, without its name or path: the cause exec wrapped
// (executable file not found, permission denied), the exit status, or, for an error of
// another kind, its text with every mention of the command cut out. Only exec's own errors
// are unwrapped: one wrapped in an explanation (startError on Windows: the command needs an
// administrator) keeps the explanation.
func commandCause(err error, argv []string) string {
	switch e := err.(type) {
	case *exec.Error:
		if e.Err != nil {
			err = e.Err
		}
	case *fs.PathError:
		if e.Err != nil {
			err = e.Err
		}
	}
	text := err.Error()
	if len(argv) == 0 {
		return text
	}
	hide := []string{command.Join(argv), argv[0]}
	if base := filepath.Base(argv[0]); base != argv[0] {
		hide = append(hide, base)
	}
	// Quoted first (exec.Error quotes the name, doubling a Windows path's backslashes), then
	// as written.
	for _, quoted := range []bool{true, false} {
		for _, h := range hide {
			switch {
			case h == "":
			case quoted:
				text = strings.ReplaceAll(text, strconv.Quote(h), "the command")
			default:
				text = strings.ReplaceAll(text, h, "the command")
			}
		}
	}
	return text
}

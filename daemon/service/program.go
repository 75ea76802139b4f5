package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kardianos "github.com/kardianos/service"
)

// DefaultStopTimeout bounds how long Stop waits for the gateway to close its handles. systemd's
// TimeoutStopSec (20 s) is the outer bound; the gateway needs well under a second.
const DefaultStopTimeout = 10 * time.Second

// Program adapts a run function (the gateway) to kardianos' Start/Stop interface: Start returns
// at once with the run going in the background, Stop cancels it and waits at most StopTimeout.
type Program struct {
	run         func(ctx context.Context) error
	parent      context.Context
	stopTimeout time.Duration

	mu sync.Mutex // guards cancel, done and err
	// cancel ends the running run's context; nil before Start.
	cancel context.CancelFunc
	// done is closed when run has returned; its result is then in err.
	done chan struct{}
	err  error
}

// NewProgram returns a Program that calls run with a context derived from parent.
func NewProgram(parent context.Context, run func(ctx context.Context) error, stopTimeout time.Duration) *Program {
	if stopTimeout <= 0 {
		stopTimeout = DefaultStopTimeout
	}
	return &Program{run: run, parent: parent, stopTimeout: stopTimeout, done: make(chan struct{})}
}

// Start launches run and returns without waiting for it.
func (p *Program) Start(kardianos.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("hypd service program started twice")
	}
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	go func() {
		err := p.run(ctx)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return nil
}

// Stop cancels run and waits until it returns or StopTimeout passes.
func (p *Program) Stop(kardianos.Service) error {
	p.mu.Lock()
	cancel := p.cancel
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("hypd did not stop within %s", p.stopTimeout)
	}
}

// Done is closed when run has returned.
func (p *Program) Done() <-chan struct{} { return p.done }

// Err is run's result once Done is closed.
func (p *Program) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Run runs the gateway: in the foreground when started from a terminal, under the service manager
// when the service manager started it (kardianos.Interactive decides). Either way it returns when
// ctx ends (SIGTERM, ^C) or when run fails, with run's error, so a failing gateway exits non-zero
// and systemd's Restart=on-failure starts it again.
func Run(ctx context.Context, run func(ctx context.Context) error) error {
	if kardianos.Interactive() {
		return run(ctx)
	}
	p := NewProgram(ctx, run, DefaultStopTimeout)
	svc, err := kardianos.New(p, &kardianos.Config{
		Name:        Name,
		Description: Description,
		// kardianos' default wait only watches signals; a gateway that fails on its own must end
		// the process too, or the service manager would never restart it.
		Option: kardianos.KeyValue{"RunWait": func() {
			select {
			case <-ctx.Done():
			case <-p.Done():
			}
		}},
	})
	if err != nil {
		return fmt.Errorf("setting up the %s service: %w", Name, err)
	}
	if err := svc.Run(); err != nil {
		return fmt.Errorf("running under the service manager: %w", err)
	}
	return p.Err()
}

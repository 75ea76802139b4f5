// Package servicerun runs a long-lived function (hypd's gateway, the client helper) as a
// service: Program is the Start/Stop adapter kardianos/service wants, and Run runs the function
// in the foreground or, when the service's command line says so, under the Windows service
// control manager. Which of the two is never guessed from the session: wine runs services in
// session 1, where kardianos' guess takes a service for a console program. The service's
// installed command line carries an explicit argument instead (as wireguard-windows'
// /managerservice does).
package servicerun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kardianos "github.com/kardianos/service"
)

// DefaultStopTimeout bounds how long Stop waits for run to return.
const DefaultStopTimeout = 10 * time.Second

// Program runs run in the background between Start and Stop. Done is closed when run returns,
// whether it was stopped or failed on its own; a service manager watches it to end the service
// with run's error.
type Program struct {
	run         func(ctx context.Context, ready func()) error
	parent      context.Context
	stopTimeout time.Duration
	done        chan struct{} // closed when run has returned; its result is then in err
	ready       chan struct{} // closed when run says it is up (see NewReadyProgram)
	readyOnce   sync.Once

	mu      sync.Mutex // guards cancel, started and err
	cancel  context.CancelFunc
	started bool
	err     error
}

// NewProgram returns a Program that calls run with a context derived from parent (nil:
// context.Background()); Stop waits at most stopTimeout (0: DefaultStopTimeout).
func NewProgram(parent context.Context, run func(ctx context.Context) error, stopTimeout time.Duration) *Program {
	return NewReadyProgram(parent, func(ctx context.Context, ready func()) error {
		ready()
		return run(ctx)
	}, stopTimeout)
}

// NewReadyProgram is NewProgram for a run that says when it is up by calling ready (the helper,
// once its store has loaded): a service reports running only then, so a run that fails while
// starting shows as a service that failed to start.
func NewReadyProgram(parent context.Context, run func(ctx context.Context, ready func()) error, stopTimeout time.Duration) *Program {
	if parent == nil {
		parent = context.Background()
	}
	if stopTimeout <= 0 {
		stopTimeout = DefaultStopTimeout
	}
	return &Program{run: run, parent: parent, stopTimeout: stopTimeout, done: make(chan struct{}), ready: make(chan struct{})}
}

// Start launches run and returns without waiting for it. A Program runs once.
func (p *Program) Start(kardianos.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("service program started twice")
	}
	p.started = true
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	go func() {
		err := p.run(ctx, func() { p.readyOnce.Do(func() { close(p.ready) }) })
		cancel()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return nil
}

// Stop cancels run and waits until it returns or the stop timeout passes. It returns run's
// error, if run failed rather than stopped.
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
		return p.Err()
	case <-t.C:
		return fmt.Errorf("did not stop within %s", p.stopTimeout)
	}
}

// Ready is closed when run has said it is up.
func (p *Program) Ready() <-chan struct{} { return p.ready }

// Done is closed when run has returned.
func (p *Program) Done() <-chan struct{} { return p.done }

// Err is run's result once Done is closed; a run that ended because it was stopped
// (context.Canceled) counts as no error.
func (p *Program) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if errors.Is(p.err, context.Canceled) {
		return nil
	}
	return p.err
}

// Control is a Program for kardianos' control actions (install, start, stop, status), which
// never run it.
func Control() *Program {
	return NewProgram(context.Background(), func(context.Context) error {
		return errors.New("this program only controls the service; the service's own command line runs it")
	}, 0)
}

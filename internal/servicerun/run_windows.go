//go:build windows

package servicerun

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

// exitRunFailed is the service-specific exit code of a run that failed on its own: a non-zero
// exit makes the service control manager apply the recovery actions (restart), when the
// service is installed with them enabled for non-crash failures.
const exitRunFailed = 1

// Run runs run until ctx ends or run fails: in the foreground, or with asService (the argument
// on the installed service's command line) under the service control manager as service name.
// As a service it reports Running once run called ready, stops run on the manager's stop or
// shutdown request, and when run fails on its own it ends the service with an error, so that
// "sc query" shows it stopped and the recovery actions restart it.
func Run(ctx context.Context, name string, asService bool, run func(ctx context.Context, ready func()) error) error {
	p := NewReadyProgram(ctx, run, 0)
	if !asService {
		return p.foreground()
	}
	// No svc.IsWindowsService check: it wants session 0, which wine does not use. A process the
	// manager did not start fails to connect to it instead.
	if err := svc.Run(name, &handler{p: p}); err != nil {
		if errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
			return fmt.Errorf("%s: %w", name, errNotService)
		}
		return fmt.Errorf("running as the %s service: %w", name, err)
	}
	return p.Err()
}

type handler struct{ p *Program }

// Execute implements svc.Handler.
func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	if err := h.p.Start(nil); err != nil {
		return true, exitRunFailed
	}
	select {
	case <-h.p.Ready():
	case <-h.p.Done(): // failed while starting: the service never ran
		return true, exitRunFailed
	}
	accepts := svc.AcceptStop | svc.AcceptShutdown
	changes <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case <-h.p.Done():
			if h.p.Err() != nil {
				return true, exitRunFailed
			}
			return false, 0
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				changes <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				changes <- svc.Status{State: svc.StopPending}
				if err := h.p.Stop(nil); err != nil {
					return true, exitRunFailed
				}
				return false, 0
			}
		}
	}
}

// errNotService says a process started with the service argument was not started by the
// service control manager (someone ran the service's command line by hand).
var errNotService = errors.New("started with the service argument, but not by the service control manager: run it without that argument in a console")

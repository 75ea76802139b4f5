package servicerun

import "errors"

// foreground starts the program and waits for run to return by itself: ctx ending (a signal)
// is how it is stopped. An error of run's that is only the cancellation counts as none.
func (p *Program) foreground() error {
	if err := p.Start(nil); err != nil {
		return err
	}
	<-p.Done()
	return p.Err()
}

// errNotService says a process started with the service argument was not started by the
// service control manager (someone ran the service's command line by hand).
var errNotService = errors.New("started with the service argument, but not by the service control manager: run it without that argument in a console")

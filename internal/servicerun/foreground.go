package servicerun

// foreground starts the program and waits for run to return by itself: ctx ending (a signal)
// is how it is stopped. An error of run's that is only the cancellation counts as none.
func (p *Program) foreground() error {
	if err := p.Start(nil); err != nil {
		return err
	}
	<-p.Done()
	return p.Err()
}

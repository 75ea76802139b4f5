//go:build !windows

package servicerun

import "context"

// Run runs run until ctx ends or run fails. Outside Windows a service is a foreground process
// (systemd stops it with SIGTERM, which ends ctx), so asService changes nothing; name is unused.
// run calls ready once it is up; nothing outside Windows waits for that.
func Run(ctx context.Context, _ string, _ bool, run func(ctx context.Context, ready func()) error) error {
	return NewReadyProgram(ctx, run, 0).foreground()
}

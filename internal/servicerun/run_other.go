//go:build !windows

package servicerun

import "context"

// Run runs run until ctx ends or run fails. Outside Windows a service is a foreground process
// (systemd stops it with SIGTERM, which ends ctx), so asService changes nothing; name is unused.
func Run(ctx context.Context, _ string, _ bool, run func(ctx context.Context) error) error {
	return NewProgram(ctx, run, 0).foreground()
}

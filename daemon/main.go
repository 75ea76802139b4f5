// Command hypd is the hyp gateway daemon: it hides the configured services and opens them for one
// source address after a valid knock. See `hypd help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hideyourports/hyp/daemon/commands"
)

// version is set by release builds: -ldflags "-X main.version=v1.2.3". A variable only because
// the linker can write nothing else; nothing assigns it.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := commands.Run(ctx, version, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

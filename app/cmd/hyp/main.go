// Command hyp is the hyp client: it knocks on a hyp gateway so the gateway
// opens a service for this machine. All logic is in app/cli; main wires the
// process (arguments, stdio, signals) to it and exits with its status.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hideyourports/hyp/app/cli"
)

// version is set by release builds: -ldflags "-X main.version=v1.2.3".
// It is a variable only because the linker can write nothing else; the
// program never assigns it.
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version}, os.Args[1:])
	stop()
	os.Exit(code)
}

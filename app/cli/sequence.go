package cli

import (
	"context"
	"flag"
	"fmt"
	"github.com/hideyourports/hyp/internal/cmdline"
	"strings"

	"github.com/hideyourports/hyp/core/sequence"
)

func sequenceCommand() Command {
	return Command{
		Name:    "sequence",
		Args:    "[--time UNIX] [--counter N] TARGET",
		Summary: "print the knock ports of a time step",
		Help: `Prints the ports of TARGET's knock sequence for the time step that holds
UNIX (default: now), space separated on one line. TARGET is a hyp:// URI,
"-" to read the URI from stdin, or a host with --secret FILE.`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var tf targetFlags
			tf.register(fs, false)
			unix := fs.Int64("time", 0, "unix `TIME` in seconds (default now)")
			counter := fs.Uint("counter", 0, "use counter `N` within the time step (v2 only)")
			return func(ctx context.Context, args []string) error {
				arg, err := oneTarget(args)
				if err != nil {
					return err
				}
				p, warnings, err := resolveTarget(env, arg, tf)
				if err != nil {
					return err
				}
				printWarnings(env, warnings)
				t := env.now().Unix()
				if isSet(fs, "time") {
					t = *unix
				}
				if *counter > 1<<32-1 {
					return usageError("--counter: must fit in 32 bits, got %d", *counter)
				}
				ports, err := sequence.PortsAt(p.Key, p.Params, t, uint32(*counter))
				if err != nil {
					return usageError("%w", err)
				}
				words := make([]string, len(ports))
				for i, port := range ports {
					words[i] = fmt.Sprint(port)
				}
				_, err = fmt.Fprintln(env.Stdout, strings.Join(words, " "))
				return err
			}
		},
	}
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

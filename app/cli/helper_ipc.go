package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	helperstore "github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/internal/cmdline"
)

const helperIPCHelp = `These talk to the running helper over its local channel (/run/hyp-helper.sock
on Linux, \\.\pipe\hyp-helper on Windows): root and members of the group hyp
may use it on Linux, interactive users and administrators on Windows.`

func (e *Env) helperSocket() string {
	if e.HelperSocket != "" {
		return e.HelperSocket
	}
	return helperipc.DefaultAddress
}

func socketFlag(fs *flag.FlagSet, env *Env) *string {
	return fs.String("socket", env.helperSocket(), "the helper's channel `PATH` (socket or pipe name)")
}

func helperIPCCommands() []Command {
	return []Command{
		{
			Name:    "helper live",
			Args:    "[--json] [--socket PATH]",
			Summary: "list the running helper's profiles with their live state",
			Help:    helperIPCHelp,
			Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
				sock := socketFlag(fs, env)
				asJSON := fs.Bool("json", false, "print the state as JSON")
				return func(ctx context.Context, args []string) error {
					if len(args) != 0 {
						return usageError("takes no arguments")
					}
					ps, err := (&helperipc.Client{Address: *sock}).List(ctx)
					if err != nil {
						return err
					}
					if *asJSON {
						out := make([]liveJSON, 0, len(ps))
						for _, p := range ps {
							out = append(out, toLiveJSON(p))
						}
						return writeJSON(env.Stdout, out)
					}
					tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tHOST\tSTATE\tLAST KNOCK\tLAST ERROR")
					for _, p := range ps {
						state, knocked := "down", "-"
						if p.Connected {
							state = "up"
						}
						if !p.LastKnock.IsZero() {
							knocked = p.LastKnock.Local().Format(time.DateTime)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Host, state, knocked, dash(p.LastError))
					}
					return tw.Flush()
				}
			},
		},
		{
			Name:    "helper connect",
			Args:    "[--socket PATH] NAME",
			Summary: "ask the running helper to knock for NAME now and bring it up",
			Help:    helperIPCHelp,
			Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
				sock := socketFlag(fs, env)
				return func(ctx context.Context, args []string) error {
					name, err := oneName(args)
					if err != nil {
						return err
					}
					err = (&helperipc.Client{Address: *sock}).Connect(ctx, name, func(s helperipc.Step) {
						fmt.Fprintf(env.Stdout, "%s: %s\n", s.Kind, s.Message)
					})
					if errors.Is(err, helperipc.ErrNotFound) {
						return usageError("%w", err)
					}
					if err != nil {
						return &ExitError{Code: ExitFail, Err: err}
					}
					return nil
				}
			},
		},
	}
}

// handOverOrStore gives p to the running helper over its channel, which
// stores it and keeps it alive at once, or, when no helper runs, writes the
// helper's store directly (the helper reads it when it starts). It returns
// what to tell the user.
func handOverOrStore(ctx context.Context, env *Env, dir, sock string, p profiles.Profile, force bool) (string, error) {
	c := &helperipc.Client{Address: sock}
	// Only a helper of the store being written may take it over: a --dir
	// other than the default is a store no running helper reads.
	if dir == "" || dir == helperstore.DefaultDir() {
		core := p.Profile
		core.Name = p.Name
		err := c.Add(ctx, helperipc.HandOver{Name: p.Name, URI: helperipc.NewSecret(core.URI()), Command: p.Command,
			KeepAlive: p.KeepAlive, Gap: p.Gap, Uses: p.Uses, Replace: force, Sites: handOverSites(p)})
		if err == nil {
			return fmt.Sprintf("handed profile %s (key %s) to the running helper, which keeps it alive from now on", p.Name, p.Key.ID()), nil
		}
		if !errors.Is(err, helperipc.ErrNoHelper) {
			return "", err
		}
	}
	st := helperstore.Store{Dir: dir}
	if err := st.Add(p, force); err != nil {
		return "", err
	}
	return fmt.Sprintf("copied profile %s (key %s) to %s; run 'hyp helper restart' to use it", p.Name, p.Key.ID(), st.Path(p.Name)), nil
}

// pkexecUser is the user who ran pkexec (the tray's "Run as a service…"):
// pkexec sets PKEXEC_UID and no SUDO_USER.
func pkexecUser() string {
	if os.Geteuid() == 0 {
		return os.Getenv("PKEXEC_UID")
	}
	return ""
}

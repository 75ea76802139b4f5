package commands

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/control"
)

// complete lists the words TAB offers where hypd takes a name that exists now: the key files of
// the default configuration's keys directory (secret new --force NAME), the protected services
// and the grants' sources of the running hypd, the interfaces of this host. A kind it cannot list
// (no permission, hypd not running) gives no words.
func complete(ctx context.Context, e *env, kind string) []string {
	switch kind {
	case "keys":
		dir := config.DefaultKeysDir
		if _, err := os.Stat(e.defaultConfig); err == nil {
			dir = config.KeysDirOf(e.defaultConfig)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil
		}
		var names []string
		for _, d := range ents {
			n := d.Name()
			for _, ext := range []string{".key", ".toml"} {
				if base, ok := strings.CutSuffix(n, ext); ok && !strings.HasPrefix(n, ".") && !slices.Contains(names, base) {
					names = append(names, base)
				}
			}
		}
		return names
	case "services", "grants":
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := control.NewClient(control.DefaultSocket).Status(ctx)
		if err != nil {
			return nil
		}
		var out []string
		if kind == "services" {
			for _, p := range st.Protected {
				out = append(out, p.Service)
			}
			return out
		}
		for _, g := range st.Grants {
			if !slices.Contains(out, g.Source) {
				out = append(out, g.Source)
			}
		}
		return out
	case "interfaces":
		ifs, err := net.Interfaces()
		if err != nil {
			return nil
		}
		var out []string
		for _, i := range ifs {
			out = append(out, i.Name)
		}
		return out
	}
	return nil
}

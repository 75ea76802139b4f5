package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// siteCommands manage the sites of a saved profile: the gateways of a fleet that share its key,
// each with its own host, realm and check port (docs/client.md, sites).
func siteCommands() []Command {
	return []Command{siteAddCommand(), siteListCommand(), siteRemoveCommand()}
}

func siteAddCommand() Command {
	return Command{
		Name:    "site add",
		Args:    "[flags] PROFILE SITE [URI]",
		Summary: "add a gateway (site) to a profile whose key it shares",
		Help: `Adds SITE to PROFILE: another gateway holding the same key, such as a second
office or a cloud region, each with its own realm. Give the URI its gateway's
hypd secret new printed for the same key (its host, realm and check port are
taken; its key must be PROFILE's), or --host and --realm. hyp connect PROFILE
tries the sites in order and uses the first that opens; hyp connect PROFILE
--site SITE knocks that one only. A profile without sites first gets its own
gateway as the site named by --first.`,
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			var host, realm, check, first string
			var force bool
			fs.StringVar(&host, "host", "", "the site's `HOST` name or address (instead of a URI)")
			fs.StringVar(&realm, "realm", "", "the site's `REALM`, as its hypd.toml has it (instead of a URI)")
			fs.StringVar(&check, "check", "", "the site's own check port, `tcp/PORT` (default: the profile's)")
			fs.StringVar(&first, "first", "first", "`NAME` of the profile's own gateway when it becomes a site")
			fs.BoolVar(&force, "force", false, "replace a site of that name")
			return func(_ context.Context, args []string) error {
				if len(args) < 2 || len(args) > 3 {
					return usageError("want PROFILE SITE [URI], got %d arguments", len(args))
				}
				name, site := args[0], profiles.Site{Name: args[1], Host: host}
				s, err := env.store()
				if err != nil {
					return err
				}
				if len(args) == 3 {
					if host != "" || realm != "" {
						return usageError("give a URI or --host and --realm, not both")
					}
					saved, err := savedProfile(env, name)
					if err != nil {
						return err
					}
					if site, err = siteFromURI(saved, args[1], args[2]); err != nil {
						return err
					}
				} else {
					if host == "" {
						return usageError("missing the site's URI or --host")
					}
					if site.Realm = realm; realm != "" {
						if err := sequence.CheckRealm(realm); err != nil {
							return usageError("--realm %q: %v", realm, err)
						}
					}
				}
				if check != "" {
					if site.CheckPort, err = profile.ParseCheck(check); err != nil {
						return usageError("--check: %w", err)
					}
				}
				err = s.Update(name, func(p profiles.Profile) (profiles.Profile, error) {
					if realm == "" && len(args) == 2 && p.Params.Scheme == sequence.V3 {
						return p, usageError("--realm is missing: profile %q is scheme v3, and each site's gateway has its own realm (hypd.toml's realm; \"\" if it has none)", name)
					}
					return p.AddSite(site, first, force)
				})
				if errors.Is(err, profiles.ErrNotFound) {
					return usageError("no profile %q in %s", name, s.Path())
				}
				if err != nil {
					return usageError("%w", err)
				}
				fmt.Fprintf(env.Stdout, "profile %s: site %s added (%s)\n", name, site.Name, describeSite(site))
				return nil
			}
		},
	}
}

// siteFromURI takes a site from the URI a gateway's hypd secret new printed for PROFILE's key:
// its host, realm and check port. Everything else must be PROFILE's, or the site would knock
// sequences its gateway does not expect.
func siteFromURI(p profiles.Profile, name, uri string) (profiles.Site, error) {
	cp, _, err := profile.Parse(uri)
	if err != nil {
		return profiles.Site{}, usageError("the site's URI: %w", err)
	}
	if !cp.Key.Equal(p.Key) {
		return profiles.Site{}, usageError("the site's URI holds another key than profile %q: a site shares its profile's key (add it as a profile of its own)", p.Name)
	}
	a, b := cp.Params, p.Params
	a.Realm, b.Realm = "", ""
	if a != b {
		return profiles.Site{}, usageError("the site's URI knocks %s (length %d, step %d, ports %d..%d), profile %q %s (length %d, step %d, ports %d..%d): a site differs from its profile only in host, realm and check port",
			a.Scheme, a.Length, a.Step, a.Low, a.High, p.Name, b.Scheme, b.Length, b.Step, b.Low, b.High)
	}
	s := profiles.Site{Name: name, Host: cp.Host, Realm: cp.Params.Realm}
	if cp.CheckPort != p.CheckPort {
		s.CheckPort = cp.CheckPort
	}
	return s, nil
}

func describeSite(s profiles.Site) string {
	d := s.Host + ", realm " + strconv.Quote(s.Realm)
	if s.CheckPort != 0 {
		d += fmt.Sprintf(", check tcp/%d", s.CheckPort)
	}
	return d
}

func siteListCommand() Command {
	return Command{
		Name:    "site list",
		Args:    "PROFILE",
		Summary: "list a profile's sites in the order connect tries them",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			return func(_ context.Context, args []string) error {
				name, err := oneName(args)
				if err != nil {
					return err
				}
				_, p, err := savedSettings(env, name)
				if err != nil {
					return err
				}
				if len(p.SiteList) == 0 {
					fmt.Fprintf(env.Stdout, "profile %s has no sites: it knocks %s\n", name, p.Host)
					return nil
				}
				for i, site := range p.SiteList {
					fmt.Fprintf(env.Stdout, "%d. %s\t%s\n", i+1, site.Name, describeSite(site))
				}
				return nil
			}
		},
	}
}

func siteRemoveCommand() Command {
	return Command{
		Name:    "site remove",
		Args:    "PROFILE SITE",
		Summary: "remove a site from a profile",
		Setup: func(fs *flag.FlagSet, env *Env) cmdline.Runner {
			return func(_ context.Context, args []string) error {
				if len(args) != 2 {
					return usageError("want PROFILE SITE, got %d arguments", len(args))
				}
				s, err := env.store()
				if err != nil {
					return err
				}
				err = s.Update(args[0], func(p profiles.Profile) (profiles.Profile, error) { return p.RemoveSite(args[1]) })
				if errors.Is(err, profiles.ErrNotFound) {
					return usageError("no profile %q in %s", args[0], s.Path())
				}
				if err != nil {
					return usageError("%w", err)
				}
				fmt.Fprintf(env.Stdout, "profile %s: site %s removed\n", args[0], args[1])
				return nil
			}
		},
	}
}

// applySite narrows a saved profile to the site --site names; "" leaves it as it is.
func applySite(p profiles.Profile, site string) (profiles.Profile, error) {
	if site == "" {
		return p, nil
	}
	q, err := p.OnlySite(site)
	if err != nil {
		return p, usageError("--site: %w", err)
	}
	return q, nil
}

// showSites adds a realm line and, for a profile with sites, one line per site to hyp profile
// show.
func showSites(w io.Writer, p profiles.Profile) {
	if p.Params.Scheme == sequence.V3 && len(p.SiteList) == 0 {
		fmt.Fprintf(w, "realm:      %s\n", strconv.Quote(p.Params.Realm))
	}
	for i, s := range p.SiteList {
		fmt.Fprintf(w, "site %d:     %s (%s)\n", i+1, s.Name, describeSite(s))
	}
}

// handOverSites are p's sites as the helper's channel carries them.
func handOverSites(p profiles.Profile) []helperipc.Site {
	var out []helperipc.Site
	for _, s := range p.SiteList {
		out = append(out, helperipc.Site{Name: s.Name, Host: s.Host, Realm: s.Realm, Check: s.CheckPort})
	}
	return out
}

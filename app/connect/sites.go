package connect

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/sequence"
)

// openSites opens p: the one gateway of a profile without sites, as always; for a profile with
// sites, each site in turn, with its own host, realm and check port (profiles.Profile.At), until
// one opens. "Opens" is what open decides for one gateway: the check port answers (before a
// knock, with PreCheck, or after one), or, for a site without a check port, the knock went out,
// so such a site ends the search. A site that fails is reported as a step (not as the end of
// the flow) and the next is tried; the Connected step that ends the search names the site, and
// so does every step after it (Step.Site). The runner returned goes on with that site.
func (c *Connector) openSites(ctx context.Context, p profiles.Profile, progress func(Step)) (*runner, error) {
	if len(p.SiteList) == 0 {
		r := c.runner(p, progress)
		return r, r.open(ctx)
	}
	sites := p.Sites()
	var reasons []string
	var last error
	for i, s := range sites {
		final := i == len(sites)-1
		r := c.runner(p.At(s), siteProgress(progress, final, s, sites, i))
		r.site = s.Name
		r.report(Knocking, nil, "site %s: %s", s.Name, describeSite(r.p))
		err := r.open(ctx)
		if err == nil {
			// The runner goes on (launch, keep-alive) reporting through the caller's progress.
			r.progress = progress
			r.report(Connected, nil, "site %s answered: %s is open", s.Name, r.p.Host)
			return r, nil
		}
		if ctx.Err() != nil || len(sites) == 1 {
			return nil, err // one site (--site): its own failure says it all
		}
		reasons = append(reasons, fmt.Sprintf("site %s: %v", s.Name, err))
		last = err
	}
	r := c.runner(p, progress)
	return nil, r.fail(last, "no site of %s opened (%s)", p.Name, strings.Join(reasons, "; "))
}

// siteProgress reports a site's steps; a site that is not the last one to try does not end
// the flow when it fails, so its Failed step goes out as a Checking step that says the next
// site comes.
func siteProgress(progress func(Step), final bool, s profiles.Site, sites []profiles.Site, i int) func(Step) {
	if progress == nil {
		return nil
	}
	return func(st Step) {
		if st.Kind == Failed && !final {
			st.Kind = Checking
			st.Message = fmt.Sprintf("site %s did not open: %s; trying site %s", s.Name, st.Message, sites[i+1].Name)
			st.Err = nil
		}
		progress(st)
	}
}

// describeSite says where a site's knock goes, and with which realm.
func describeSite(p profiles.Profile) string {
	d := p.Host
	if p.Params.Scheme == sequence.V3 {
		d += ", realm " + strconv.Quote(p.Params.Realm)
	}
	if p.CheckPort != 0 {
		d += fmt.Sprintf(", check tcp/%d", p.CheckPort)
	}
	return d
}

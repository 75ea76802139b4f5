package profiles

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
)

// Site is one gateway of a profile whose key a fleet shares (a second office, a cloud region,
// each member of an HA pair that has its own realm): where to knock and the realm its knocks
// are bound to. Everything else (key, scheme, length, step, ports, uses) is the profile's.
type Site struct {
	// Name is what the user picks the site by (hyp connect PROFILE --site NAME).
	Name string
	Host string
	// Realm is the site's realm, for a v3 profile ("" is a realm too); empty for other schemes.
	Realm string
	// CheckPort is the site's own check port; 0 means the profile's.
	CheckPort uint16
}

// Sites returns the gateways p knocks, in the order they are tried: p.SiteList when set, else
// the one gateway of p's own host, realm and check port (every profile from before sites).
func (p Profile) Sites() []Site {
	if len(p.SiteList) > 0 {
		return slices.Clone(p.SiteList)
	}
	return []Site{{Host: p.Host, Realm: p.Params.Realm}}
}

// At returns p as it knocks site s: s's host, realm and check port over p's. It is the one
// place the knock parameters of a site are made, so every caller (CLI, tray, helper) knocks a
// site alike.
func (p Profile) At(s Site) Profile {
	q := p.Clone()
	q.SiteList = nil
	q.Host = s.Host
	if q.Params.Scheme == sequence.V3 {
		q.Params.Realm = s.Realm
	}
	if s.CheckPort != 0 {
		q.CheckPort = s.CheckPort
	}
	return q
}

// OnlySite returns p restricted to the site named name, or an error listing the names it has.
func (p Profile) OnlySite(name string) (Profile, error) {
	if len(p.SiteList) == 0 {
		return Profile{}, fmt.Errorf("profile %q has no sites; it knocks %s (add sites with hyp site add)", p.Name, p.Host)
	}
	i := slices.IndexFunc(p.SiteList, func(s Site) bool { return s.Name == name })
	if i < 0 {
		return Profile{}, fmt.Errorf("profile %q has no site %q; its sites are %s", p.Name, name, strings.Join(p.siteNames(), ", "))
	}
	q := p.Clone()
	q.SiteList = []Site{p.SiteList[i]}
	return q.normalSites(), nil
}

func (p Profile) siteNames() []string {
	var out []string
	for _, s := range p.SiteList {
		out = append(out, s.Name)
	}
	return out
}

// normalSites makes p's own host and realm those of its first site, so that whatever shows or
// uses p.Host sees the gateway knocked first. The check port stays the profile's: it is what a
// site without its own uses.
func (p Profile) normalSites() Profile {
	if len(p.SiteList) == 0 {
		return p
	}
	p.Host = p.SiteList[0].Host
	if p.Params.Scheme == sequence.V3 {
		p.Params.Realm = p.SiteList[0].Realm
	}
	return p
}

// validateSites checks every site, naming the first bad one.
func (p Profile) validateSites() error {
	seen := map[string]bool{}
	for i, s := range p.SiteList {
		where := fmt.Sprintf("site %d", i+1)
		if s.Name != "" {
			where = fmt.Sprintf("site %q", s.Name)
		}
		if err := ValidateName(s.Name); err != nil {
			return fmt.Errorf("%s: %w", where, errors.New(strings.Replace(err.Error(), "profile name", "site name", 1)))
		}
		if seen[s.Name] {
			return fmt.Errorf("%s: the name appears twice", where)
		}
		seen[s.Name] = true
		if _, err := profile.ParseHost(s.Host); err != nil {
			return fmt.Errorf("%s: host: %w", where, err)
		}
		// "" is no realm for other schemes, and a realm like any other for v3.
		if s.Realm != "" || p.Params.Scheme == sequence.V3 {
			if _, _, err := (sequence.Fields{Realm: &s.Realm}).Apply(p.Params); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return nil
}

// AddSite returns p with site s added at the end (or, with replace, in place of the site of
// that name). A profile without sites first gets its own gateway as a site named first, so the
// gateway it knocked so far is still tried first.
func (p Profile) AddSite(s Site, first string, replace bool) (Profile, error) {
	q := p.Clone()
	if len(q.SiteList) == 0 {
		q.SiteList = []Site{{Name: first, Host: p.Host, Realm: p.Params.Realm}}
	}
	if i := slices.IndexFunc(q.SiteList, func(o Site) bool { return o.Name == s.Name }); i >= 0 {
		if !replace {
			return Profile{}, fmt.Errorf("profile %q already has a site %q (replace it with --force)", p.Name, s.Name)
		}
		q.SiteList[i] = s
	} else {
		q.SiteList = append(q.SiteList, s)
	}
	q = q.normalSites()
	if err := q.validateSites(); err != nil {
		return Profile{}, err
	}
	return q, nil
}

// RemoveSite returns p without the site named name. The last site cannot go: a profile
// knocks somewhere.
func (p Profile) RemoveSite(name string) (Profile, error) {
	i := slices.IndexFunc(p.SiteList, func(s Site) bool { return s.Name == name })
	if i < 0 {
		return Profile{}, fmt.Errorf("profile %q has no site %q", p.Name, name)
	}
	if len(p.SiteList) == 1 {
		return Profile{}, fmt.Errorf("site %q is the last of profile %q; remove the profile instead", name, p.Name)
	}
	q := p.Clone()
	q.SiteList = slices.Delete(q.SiteList, i, i+1)
	return q.normalSites(), nil
}

// Update changes the settings of the profile name with change, under the store's lock, without
// touching its key (which stays where it is, in the keyring or its file). change gets the
// profile without its key; what it returns is validated and saved. Its name must not change.
func (s *Store) Update(name string, change func(Profile) (Profile, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return fmt.Errorf("profile %q: %w", name, ErrNotFound)
	}
	p, err := change(all[i].Clone())
	if err != nil {
		return err
	}
	if p.Name != name {
		return fmt.Errorf("profile %q: an update may not rename it (to %q)", name, p.Name)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	p.Key = all[i].Key // never a key in the file: the loaded profile has none
	all[i] = p
	return s.save(all)
}

// WithSites returns p with sites as its sites, its host and realm those of the first, checked
// as any profile's: what a copy of a profile that lost its sites on the way (a URI carries one
// gateway) gets back.
func (p Profile) WithSites(sites []Site) (Profile, error) {
	q := p.Clone()
	q.SiteList = slices.Clone(sites)
	q = q.normalSites()
	if err := q.validateSites(); err != nil {
		return Profile{}, err
	}
	return q, nil
}

// Package store is the helper service's own profile store: a service account cannot read a
// user's keyring (it is locked with the user's login and bound to their session), so the helper
// keeps the profiles it runs, keys included, in a directory only root reads (/etc/hyp/helper,
// 0700, one 0600 file per profile) or, on Windows, hyp\helper in ProgramData, owned by
// Administrators with an ACL that admits only SYSTEM and Administrators and every key sealed
// with DPAPI in machine scope, as wireguard-windows keeps its configurations.
//
// Who may enter: root or an elevated administrator, and nobody else; every method says so in
// one line otherwise (app/helper/perm.RequireAdmin). `hyp helper add NAME` copies a profile and
// its key here from the user's store, the running helper (app/helper/keepalive) reads it at
// start and writes a handed-over profile into it. The store refuses a directory or file that
// others can read or replace (owner, permissions, links: app/helper/perm), as ssh refuses a
// private key with loose permissions, and checks it at every load.
package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hideyourports/hyp/app/helper/perm"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// ext is the extension of a profile file in the store.
const ext = ".toml"

// Store is the helper's own profile store. All methods need root (or an
// elevated administrator on Windows) and say so in one line otherwise.
type Store struct {
	Dir string // "" => DefaultDir()
}

// Directory is the store's directory: Dir, or DefaultDir.
func (s Store) Directory() string {
	if s.Dir == "" {
		return DefaultDir()
	}
	return s.Dir
}

// StatePath is the helper's knock state file (app/knockstate), in the store
// beside the profiles: root only, like them, though it holds no secret.
func (s Store) StatePath() string { return filepath.Join(s.Directory(), knockstate.FileName) }

// Path is the file that holds profile name.
func (s Store) Path(name string) string { return filepath.Join(s.Directory(), name+ext) }

// entry is one profile file: the full URI (with the key) and the settings
// the URI does not carry.
type entry struct {
	URI       string   `toml:"uri,omitempty"`       // outside Windows
	SealedURI string   `toml:"uri_dpapi,omitempty"` // on Windows: the URI encrypted (see seal)
	Gap       string   `toml:"gap"`
	KeepAlive string   `toml:"keepalive,omitempty"`
	Uses      int      `toml:"uses,omitempty"`
	Command   []string `toml:"command,omitempty"`
	// Sites are the profile's gateways after the URI's (app/profiles.Site), tried in order.
	Sites []entrySite `toml:"site,omitempty"`
}

// entrySite is one [[site]] table of an entry.
type entrySite struct {
	Name  string `toml:"name"`
	Host  string `toml:"host"`
	Realm string `toml:"realm,omitempty"`
	Check uint16 `toml:"check,omitempty"`
}

const entryHeader = "# hyp helper profile (hyp helper add). Root only: it holds the key.\n"

// Add copies p, with its key, into the store. An existing entry is replaced
// only with replace.
func (s Store) Add(p profiles.Profile, replace bool) error {
	if err := perm.RequireAdmin("hyp helper add"); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Key.IsZero() {
		return fmt.Errorf("profile %q: no key to copy", p.Name)
	}
	if err := perm.SecureDir(s.Directory()); err != nil {
		return err
	}
	path := s.Path(p.Name)
	if _, err := os.Lstat(path); err == nil && !replace {
		return fmt.Errorf("helper profile %q: %w (replace it with --force)", p.Name, fs.ErrExist)
	}
	core := p.Profile
	core.Name = p.Name
	e := entry{URI: core.URI(), Gap: p.Gap.String(), Uses: p.Uses, Command: p.Command}
	for _, site := range p.SiteList {
		e.Sites = append(e.Sites, entrySite{Name: site.Name, Host: site.Host, Realm: site.Realm, Check: site.CheckPort})
	}
	if sealed {
		var err error
		if e.SealedURI, err = seal([]byte(e.URI)); err != nil {
			return fmt.Errorf("helper profile %q: %w", p.Name, err)
		}
		e.URI = ""
	}
	if p.KeepAlive > 0 {
		e.KeepAlive = p.KeepAlive.String()
	}
	var b bytes.Buffer
	b.WriteString(entryHeader)
	if err := toml.NewEncoder(&b).Encode(e); err != nil {
		return fmt.Errorf("encoding helper profile %q: %w", p.Name, err)
	}
	if err := atomicfile.Write(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("saving helper profile %q: %w", p.Name, err)
	}
	// Read back what the file got (on Windows, the ACL it inherited): a key the helper would
	// refuse at its next load must not be reported as copied.
	if err := perm.CheckPrivate(path, false); err != nil {
		os.Remove(path)
		return fmt.Errorf("helper profile %q was not saved: %w", p.Name, err)
	}
	return nil
}

// Remove deletes a profile from the store.
func (s Store) Remove(name string) error {
	if err := perm.RequireAdmin("hyp helper remove"); err != nil {
		return err
	}
	if err := profiles.ValidateName(name); err != nil {
		return err
	}
	err := os.Remove(s.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("helper profile %q: %w", name, profiles.ErrNotFound)
	}
	return err
}

// List reads every profile, with its key, in name order. It refuses a store
// that is not private (see perm.CheckPrivate): the helper will not knock with a
// key others could have read or replaced.
func (s Store) List() ([]profiles.Profile, error) {
	if err := perm.RequireAdmin("the helper"); err != nil {
		return nil, err
	}
	dir := s.Directory()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the helper store: %w", err)
	}
	if err := perm.CheckPrivate(dir, true); err != nil {
		return nil, err
	}
	var out []profiles.Profile
	for _, d := range ents {
		name, ok := strings.CutSuffix(d.Name(), ext)
		if !ok || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		p, err := s.read(name)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b profiles.Profile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s Store) read(name string) (profiles.Profile, error) {
	path := s.Path(name)
	if err := profiles.ValidateName(name); err != nil {
		return profiles.Profile{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := perm.CheckPrivate(path, false); err != nil {
		return profiles.Profile{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return profiles.Profile{}, fmt.Errorf("reading helper profile: %w", err)
	}
	var e entry
	md, err := toml.Decode(string(data), &e)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return profiles.Profile{}, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return profiles.Profile{}, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return profiles.Profile{}, fmt.Errorf("%s: unknown setting %q", path, und[0].String())
	}
	uri := e.URI
	switch {
	case sealed && e.URI != "":
		return profiles.Profile{}, fmt.Errorf("%s: holds its key unencrypted; add it again with hyp helper add --force", path)
	case sealed:
		b, err := unseal(e.SealedURI)
		if err != nil {
			return profiles.Profile{}, fmt.Errorf("%s: uri_dpapi: %w", path, err)
		}
		uri = string(b)
	case e.SealedURI != "":
		return profiles.Profile{}, fmt.Errorf("%s: uri_dpapi is a Windows-only setting", path)
	}
	cp, _, err := profile.Parse(uri)
	if err != nil {
		return profiles.Profile{}, fmt.Errorf("%s: uri: %w", path, err)
	}
	p := profiles.FromURI(name, cp)
	p.Command, p.Uses = e.Command, e.Uses
	p.AlwaysOn = true
	if len(e.Sites) > 0 {
		var sites []profiles.Site
		for _, s := range e.Sites {
			sites = append(sites, profiles.Site{Name: s.Name, Host: s.Host, Realm: s.Realm, CheckPort: s.Check})
		}
		if p, err = p.WithSites(sites); err != nil {
			return profiles.Profile{}, fmt.Errorf("%s: site: %w", path, err)
		}
	}
	if e.Gap != "" {
		if p.Gap, err = time.ParseDuration(e.Gap); err != nil {
			return profiles.Profile{}, fmt.Errorf("%s: gap: %w", path, err)
		}
	}
	if e.KeepAlive != "" {
		if p.KeepAlive, err = time.ParseDuration(e.KeepAlive); err != nil {
			return profiles.Profile{}, fmt.Errorf("%s: keepalive: %w", path, err)
		}
	}
	if err := p.Validate(); err != nil {
		return profiles.Profile{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

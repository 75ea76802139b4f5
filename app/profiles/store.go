package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// FileName is the settings file inside the config directory.
const FileName = "profiles.toml"

// fileVersion is written to the file so a future format can be told apart.
const fileVersion = 1

// Options configure a Store. Zero values mean the user's real config
// directory and OS keyring.
type Options struct {
	// Dir holds profiles.toml; "" => os.UserConfigDir()/hyp.
	Dir string
	// Secrets keeps the keys of profiles without a SecretFile; nil =>
	// Keyring{}.
	Secrets SecretStore
}

// Store is the profile store. It reads the file on every call, so several
// processes (the tray, the CLI) see each other's changes; the mutex only
// orders this process's read-modify-write cycles.
type Store struct {
	dir     string
	secrets SecretStore

	mu sync.Mutex // serializes read-modify-write of the settings file
}

// DefaultDir is where the settings live unless Options.Dir says otherwise.
func DefaultDir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the user config directory: %w", err)
	}
	return filepath.Join(d, "hyp"), nil
}

// Open returns a store. It touches nothing on disk: the directory is made on
// the first write.
func Open(o Options) (*Store, error) {
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	s := &Store{dir: dir, secrets: o.Secrets}
	if s.secrets == nil {
		s.secrets = Keyring{}
	}
	return s, nil
}

// Path is the settings file.
func (s *Store) Path() string { return filepath.Join(s.dir, FileName) }

// secretsOf is where p's key lives.
func (s *Store) secretsOf(p Profile) SecretStore {
	if p.SecretFile != "" {
		return FileSecret{Path: p.SecretFile}
	}
	return s.secrets
}

// List returns every profile without its key, in file order.
func (s *Store) List() ([]Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load()
}

// Settings returns one profile without its key (no keyring access).
func (s *Store) Settings(name string) (Profile, error) {
	all, err := s.List()
	if err != nil {
		return Profile{}, err
	}
	i := slices.IndexFunc(all, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return Profile{}, fmt.Errorf("profile %q: %w", name, ErrNotFound)
	}
	return all[i], nil
}

// Get returns one profile with its key read from the keyring or its secret
// file.
func (s *Store) Get(name string) (Profile, error) {
	p, err := s.Settings(name)
	if err != nil {
		return Profile{}, err
	}
	if p.Key, err = s.secretsOf(p).Get(name); err != nil {
		return Profile{}, err // names the profile or the file already
	}
	return p, nil
}

// Lookup is Get for callers that fall back to something else when the name
// is not a saved profile (the CLI's TARGET): found is false only when no
// profile has the name.
func (s *Store) Lookup(name string) (p Profile, found bool, err error) {
	p, err = s.Get(name)
	if errors.Is(err, ErrNotFound) {
		return Profile{}, false, nil
	}
	return p, err == nil, err
}

// Put saves p and its key (p.Key, which must be set). An existing profile of
// the same name is replaced only with replace; without it Put fails with
// fs.ErrExist. The key goes to the keyring (or p.SecretFile) first, so a
// profile never appears in the file without its key.
func (s *Store) Put(p Profile, replace bool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Key.IsZero() {
		return fmt.Errorf("profile %q: no key to store", p.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(q Profile) bool { return q.Name == p.Name })
	if i >= 0 && !replace {
		return fmt.Errorf("profile %q: %w (replace it with --force)", p.Name, fs.ErrExist)
	}
	if err := s.secretsOf(p).Set(p.Name, p.Key); err != nil {
		return err // names the profile or the file already
	}
	saved := p.Clone()
	saved.Key = psk.Key{}
	if i >= 0 {
		old := all[i]
		all[i] = saved
		if old.SecretFile == "" && p.SecretFile != "" {
			// The key moved from the keyring to a file: leave no copy behind.
			defer func() { _ = s.secrets.Delete(p.Name) }()
		}
	} else {
		all = append(all, saved)
	}
	if err := s.save(all); err != nil {
		if i < 0 {
			_ = s.secretsOf(p).Delete(p.Name) // do not orphan the new key
		}
		return err
	}
	return nil
}

// Remove deletes the profile and its keyring entry. A SecretFile is left in
// place (it may be a key file the user keeps for other tools); removed
// reports its path so the caller can say so.
func (s *Store) Remove(name string) (keptFile string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.load()
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(all, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return "", fmt.Errorf("profile %q: %w", name, ErrNotFound)
	}
	p := all[i]
	if p.SecretFile == "" {
		// The keyring entry goes first: if the keyring is unreachable the
		// profile stays listed, so the user can retry instead of leaving a
		// key behind that nothing points at any more.
		if err := s.secrets.Delete(name); err != nil && !errors.Is(err, ErrNoSecret) {
			return "", err
		}
	}
	if err := s.save(slices.Delete(all, i, i+1)); err != nil {
		return "", err
	}
	return p.SecretFile, nil
}

// record is one [[profile]] table of the settings file. Durations and the
// check port are strings so a person can read and edit them.
type record struct {
	Name       string   `toml:"name"`
	Host       string   `toml:"host"`
	Scheme     string   `toml:"scheme"`
	Realm      string   `toml:"realm,omitempty"`
	Length     int      `toml:"length"`
	Step       int64    `toml:"step"`
	Low        int      `toml:"low"`
	High       int      `toml:"high"`
	Check      string   `toml:"check,omitempty"`
	Gap        string   `toml:"gap"`
	KeepAlive  string   `toml:"keepalive,omitempty"`
	Uses       int      `toml:"uses,omitempty"`
	Command    []string `toml:"command,omitempty"`
	AlwaysOn   bool     `toml:"always_on,omitempty"`
	SecretFile string   `toml:"secret_file,omitempty"`
	// Sites are [[profile.site]] tables; a profile from before sites has none.
	Sites []siteRecord `toml:"site,omitempty"`
}

// siteRecord is one [[profile.site]] table.
type siteRecord struct {
	Name  string `toml:"name"`
	Host  string `toml:"host"`
	Realm string `toml:"realm,omitempty"`
	Check string `toml:"check,omitempty"`
}

type fileFormat struct {
	Version  int      `toml:"version"`
	Profiles []record `toml:"profile"`
}

const fileHeader = `# hyp client profiles, written by hyp (hyp profile add/remove).
# No secret is ever stored here: keys live in the OS keyring (service "hyp",
# user = profile name) or in the file named by secret_file.
`

// load reads the settings file; a missing file is an empty store. Errors
// name the file and, where the parser knows it, the line.
func (s *Store) load() ([]Profile, error) {
	path := s.Path()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading profiles: %w", err)
	}
	return Decode(path, data)
}

// Decode parses the content of a settings file; path is only for errors.
func Decode(path string, data []byte) ([]Profile, error) {
	var f fileFormat
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s (the file was left as it is; fix or move it)", path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w (the file was left as it is; fix or move it)", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%s: unknown setting %q (written by a newer hyp? the file was left as it is)", path, und[0].String())
	}
	if f.Version > fileVersion {
		return nil, fmt.Errorf("%s: version %d is newer than this hyp understands (%d)", path, f.Version, fileVersion)
	}
	out := make([]Profile, 0, len(f.Profiles))
	seen := map[string]bool{}
	for i, r := range f.Profiles {
		where := fmt.Sprintf("%s:%d: profile %q", path, lineOf(data, i), r.Name)
		p, err := r.profile()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%s: the name appears twice", where)
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

// lineOf finds the line of the i-th [[profile]] table, for errors about a
// value rather than the syntax (the TOML decoder reports positions only for
// syntax errors).
func lineOf(data []byte, i int) int {
	n := -1
	for ln, line := range bytes.Split(data, []byte("\n")) {
		if strings.TrimSpace(string(line)) == "[[profile]]" {
			n++
			if n == i {
				return ln + 1
			}
		}
	}
	return 0
}

func (r record) profile() (Profile, error) {
	p := Profile{Profile: profile.Profile{Name: r.Name, Host: r.Host}, Uses: r.Uses, Command: r.Command, AlwaysOn: r.AlwaysOn, SecretFile: r.SecretFile}
	// Every field is written, so 0 (and an empty realm) means a hand-edited
	// file left it out. A hyp profile's low and high are written too and
	// ignored, which is why Apply's warnings are not this reader's business.
	f := sequence.Fields{Scheme: new(sequence.Scheme(r.Scheme))}
	if r.Realm != "" {
		f.Realm = &r.Realm
	}
	if r.Length != 0 {
		f.Length = new(int64(r.Length))
	}
	if r.Step != 0 {
		f.Step = &r.Step
	}
	if r.Low != 0 || r.High != 0 {
		f.Low, f.High = new(int64(r.Low)), new(int64(r.High))
	}
	var err error
	if p.Params, _, err = f.Apply(sequence.Defaults()); err != nil {
		return Profile{}, err
	}
	for i, sr := range r.Sites {
		site := Site{Name: sr.Name, Host: sr.Host, Realm: sr.Realm}
		if sr.Check != "" {
			if site.CheckPort, err = profile.ParseCheck(sr.Check); err != nil {
				return Profile{}, fmt.Errorf("site %d (%q): check: %w", i+1, sr.Name, err)
			}
		}
		p.SiteList = append(p.SiteList, site)
	}
	p = p.normalSites()
	if r.Check != "" {
		if p.CheckPort, err = profile.ParseCheck(r.Check); err != nil {
			return Profile{}, fmt.Errorf("check: %w", err)
		}
	}
	p.Gap = DefaultGap
	if r.Gap != "" {
		if p.Gap, err = time.ParseDuration(r.Gap); err != nil {
			return Profile{}, fmt.Errorf("gap: %w", err)
		}
	}
	if r.KeepAlive != "" {
		if p.KeepAlive, err = time.ParseDuration(r.KeepAlive); err != nil {
			return Profile{}, fmt.Errorf("keepalive: %w", err)
		}
	}
	if r.SecretFile != "" && !filepath.IsAbs(r.SecretFile) {
		return Profile{}, fmt.Errorf("secret_file: must be an absolute path, got %q", r.SecretFile)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

func toRecord(p Profile) record {
	r := record{
		Name: p.Name, Host: p.Host, Scheme: string(p.Params.Scheme),
		Length: p.Params.Length, Step: p.Params.Step, Low: int(p.Params.Low), High: int(p.Params.High),
		Gap: p.Gap.String(), Uses: p.Uses, Command: p.Command, AlwaysOn: p.AlwaysOn, SecretFile: p.SecretFile,
	}
	if p.CheckPort != 0 {
		r.Check = fmt.Sprintf("tcp/%d", p.CheckPort)
	}
	if p.KeepAlive > 0 {
		r.KeepAlive = p.KeepAlive.String()
	}
	if p.Params.Scheme == sequence.V3 {
		r.Realm = p.Params.Realm
	}
	for _, s := range p.SiteList {
		sr := siteRecord{Name: s.Name, Host: s.Host, Realm: s.Realm}
		if s.CheckPort != 0 {
			sr.Check = fmt.Sprintf("tcp/%d", s.CheckPort)
		}
		r.Sites = append(r.Sites, sr)
	}
	return r
}

// Encode renders profiles as a settings file. Keys are never written.
func Encode(all []Profile) ([]byte, error) {
	f := fileFormat{Version: fileVersion}
	for _, p := range all {
		f.Profiles = append(f.Profiles, toRecord(p))
	}
	var b bytes.Buffer
	b.WriteString(fileHeader)
	if err := toml.NewEncoder(&b).Encode(f); err != nil {
		return nil, fmt.Errorf("encoding profiles: %w", err)
	}
	return b.Bytes(), nil
}

func (s *Store) save(all []Profile) error {
	data, err := Encode(all)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating the profile directory: %w", err)
	}
	if err := atomicfile.Write(s.Path(), data, 0o600); err != nil {
		return fmt.Errorf("saving profiles: %w", err)
	}
	return nil
}

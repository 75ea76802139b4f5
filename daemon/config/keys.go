package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hideyourports/hyp/core/keyfile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/atomicfile"
)

// Key is one trusted agent's key with its settings resolved: whatever its
// file does not set comes from the daemon's Config.
type Key struct {
	Name     string // file name without extension
	Path     string
	Secret   psk.Key
	Params   sequence.Params
	Services []protected.Service
	Open     time.Duration
	Uses     int
	// RealmWarning, when set, says that the key file names a realm other than the gateway's
	// (allowed, issue #22, but easy to miss): logged when the key loads or changes.
	RealmWarning string
}

// maxKeyFile bounds what is read of a key file (core/keyfile's bound).
const maxKeyFile = keyfile.MaxSize

// keyExt is the extension of a plain key file written by WriteKeyFile;
// any other extension but .toml also means a plain file.
const (
	keyExt  = ".key"
	tomlExt = ".toml"
)

// ignored reports whether a directory entry is not a key file: hidden
// files (including WriteKeyFile's temporary ones), editor backups and swap
// files, and package managers' leftovers.
func ignored(name string) bool {
	if name == "" || name[0] == '.' || name[0] == '#' || strings.HasSuffix(name, "~") {
		return true
	}
	for _, suffix := range []string{".swp", ".swo", ".swx", ".bak", ".tmp", ".orig", ".rej",
		".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp", ".rpmnew", ".rpmsave", ".ucf-old", ".ucf-new", ".ucf-dist"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// keyName is the key's name for a file name: the name without its extension.
func keyName(file string) string {
	return strings.TrimSuffix(file, filepath.Ext(file))
}

// LoadKeys loads every key file in dir. A problem with one file is reported
// in problems (naming the file, never showing key material) and does not
// stop the others from loading. keys are sorted by name.
func LoadKeys(dir string, defaults Config) (keys []Key, problems []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("reading keys directory: %w", err)}
	}
	// Who can write the directory can write the keys: it is checked before any is trusted. (A
	// swap of the directory after the check is the directory watcher's to report; it loads again.)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("reading keys directory: %w", err)}
	}
	why, sticky := keysDirProblem(dir, fi)
	if why == "" {
		why = wayProblem(dir)
	}
	if why != "" {
		return nil, []error{fmt.Errorf("keys directory %s: %s", dir, why)}
	}
	// Each entry is read and judged on its own, on every core (a start with 100,000 key files
	// spends seconds in their syscalls); what depends on the others, names and secrets taken,
	// is decided after, in the directory's order, as one pass would.
	loaded := make([]entryResult, len(entries))
	forEachParallel(len(entries), func(i int) { loaded[i] = loadDirEntry(dir, entries[i].Name(), defaults, sticky) })
	byName := make(map[string]string, len(entries))     // key name -> path that claimed it
	bySecret := make(map[[32]byte]string, len(entries)) // hash of secret -> path that holds it
	keys = make([]Key, 0, len(entries))
	for i := range loaded {
		r := &loaded[i]
		if r.skip {
			continue
		}
		if r.err != nil {
			problems = append(problems, r.err)
			continue
		}
		k, path := r.key, r.key.Path
		if len(k.Services) == 0 {
			// Loaded, it could only ever fail to grant: say so where the admin looks.
			problems = append(problems, fmt.Errorf("key file %s: opens no service; name services in hypd.toml or in this key file (services = [\"tcp/22\"])", path))
			continue
		}
		if prev, ok := byName[k.Name]; ok {
			problems = append(problems, fmt.Errorf("key file %s: key name %q is already taken by %s; ignored", path, k.Name, prev))
			continue
		}
		// The same secret under two names would make every knock
		// ambiguous; hashing lets this stay linear in the number of keys.
		if prev, ok := bySecret[r.secretHash]; ok {
			problems = append(problems, fmt.Errorf("key file %s: holds the same secret as %s; ignored", path, prev))
			continue
		}
		byName[k.Name], bySecret[r.secretHash] = path, path
		keys = append(keys, k)
		r.key = Key{} // keys holds it now: one copy, not two, until LoadKeys returns
	}
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
	return keys, problems
}

var errNotFile = errors.New("not a regular file")

// entryResult is what became of one entry of a keys directory on its own: skipped (not a key
// file), a problem, or a key with the hash of its secret.
type entryResult struct {
	key        Key
	secretHash [32]byte
	err        error
	skip       bool
}

// loadDirEntry reads and judges the entry name of the keys directory dir, apart from the other
// entries.
func loadDirEntry(dir, name string, defaults Config, sticky bool) entryResult {
	if ignored(name) {
		return entryResult{skip: true}
	}
	path := filepath.Join(dir, name)
	if sticky {
		// A failed lstat is no pass: the entry may be another user's, removed for the
		// moment and put back before the open (the third attacker review). What is opened
		// is judged again by loadEntry, link by link.
		li, err := os.Lstat(path)
		if err != nil {
			return entryResult{err: fmt.Errorf("key file %s: gone while the keys directory was read; ignored until the next change", path)}
		}
		if why := entryOwnerProblem(li); why != "" {
			return entryResult{err: fmt.Errorf("key file %s: %s", path, why)}
		}
	}
	k, err := loadEntry(path, defaults, sticky)
	if errors.Is(err, errNotFile) {
		return entryResult{skip: true}
	}
	if err != nil {
		return entryResult{err: err}
	}
	return entryResult{key: k, secretHash: sha256.Sum256(k.Secret.Bytes())}
}

// forEachParallel calls fn(0..n-1), spread over the available cores; fn(i) for different i
// must not share state. Few items stay on the calling goroutine.
func forEachParallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/64)
	if workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// Chunks of entries, not one at a time: the counter is shared.
			const chunk = 64
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					fn(i)
				}
			}
		})
	}
	wg.Wait()
}

// loadKey reads one key file. The mode is checked on the open file so a
// swap between check and read cannot slip a readable file through.
func loadKey(path string, defaults Config) (Key, error) {
	return loadEntry(path, defaults, false)
}

// loadEntry is loadKey for an entry of a keys directory that is sticky (others may add entries
// of their own to it): then every link on the way to the file opened must be root's too.
func loadEntry(path string, defaults Config, sticky bool) (Key, error) {
	// Opened without blocking on a FIFO (openKeyFile).
	f, err := openKeyFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("key file: %w", err) // *PathError names the file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("key file: %w", err)
	}
	if fi.IsDir() {
		return Key{}, errNotFile
	}
	if err := linkProblem(path, fi, sticky); err != nil {
		return Key{}, err
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("key file %s: not a regular file (%v); ignored", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("key file %s: mode %04o lets group or others read it; refused (chmod 600 %s)", path, perm, path)
	}
	if why := ownerProblem(fi); why != "" {
		return Key{}, fmt.Errorf("key file %s: %s", path, why)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return Key{}, fmt.Errorf("key file %s: larger than %d bytes, not a key file", path, maxKeyFile)
	}
	k := Key{
		Name:     keyName(filepath.Base(path)),
		Path:     path,
		Params:   defaults.KeyDefaults(),
		Services: slices.Clone(defaults.Services),
		Open:     defaults.Open,
		Uses:     defaults.Uses,
	}
	if filepath.Ext(path) == tomlExt {
		err = k.parseTOML(data, defaults)
	} else {
		var kf *keyfile.File
		if kf, err = keyfile.ParsePlain(data); err != nil {
			err = keyfile.In(path, err)
		} else {
			k.Secret = kf.Secret
		}
	}
	if err != nil {
		return Key{}, err
	}
	if err := checkRealm(k, defaults); err != nil {
		return Key{}, err
	}
	k.RealmWarning = realmWarning(k, defaults)
	return k, nil
}

// checkRealm refuses, at a gateway with a realm, a key whose sequences are
// bound to no realm (v2, hyp): loaded, it would open this gateway with a
// knock made for any gateway holding the same key, which is what the realm
// is there to prevent (docs/gateway.md, fleets). A gateway without a realm
// takes every scheme, as it always has.
func checkRealm(k Key, defaults Config) error {
	if defaults.Realm == "" || k.Params.Scheme == sequence.V3 {
		return nil
	}
	how := `add scheme = "v3" to this key file`
	if k.Params.Scheme == defaults.Scheme {
		how = `set scheme = "v3" in hypd.toml (or in this key file)`
	}
	return fmt.Errorf("key file %s: scheme %s binds its knocks to no realm, and this gateway has realm %q, so it loads only v3 keys (a %s knock for any gateway holding this key would open this one); refused: %s, and give its clients a URI with scheme=v3&realm=%s",
		k.Path, k.Params.Scheme, defaults.Realm, k.Params.Scheme, how, url.QueryEscape(defaults.Realm))
}

// MinBits is the least a v2 sequence may carry. An attacker who sends N knocks a second hits one
// of the (2·skew+1)·uses live sequences of 2^bits after 2^bits / ((2·skew+1)·uses·N) seconds on
// average: at 48 bits, 3 live sequences and 100,000 knocks/s, about 30 years (docs/protocol.md).
const MinBits = 48

// checkEntropy refuses v2 settings whose sequences an attacker could guess: bits = length ×
// log2(high−low+1). core's Validate accepts them (the protocol allows them, and its test vectors
// use small ranges); a gateway must not. The hyp scheme's fixed 32 bits load with a warning.
func checkEntropy(p sequence.Params) error {
	if p.Scheme != sequence.V2 {
		return nil
	}
	span := int(p.High) - int(p.Low) + 1
	bits := float64(p.Length) * math.Log2(float64(span))
	if bits < MinBits {
		return fmt.Errorf("length %d over ports %d..%d carries %.1f bits (length × log2(%d ports)), below the minimum of %d: raise length or widen low..high (length 4 over 1024..65535 carries 64 bits)",
			p.Length, p.Low, p.High, math.Floor(bits*10)/10, span, MinBits)
	}
	return nil
}

// parseTOML reads a .toml key file with core/keyfile, the one reader of the
// format (the client reads the same files), and resolves what only a
// gateway needs of it: services, open time and uses, checked against the
// daemon's configuration.
func (k *Key) parseTOML(data []byte, defaults Config) error {
	kf, err := keyfile.ParseTOML(data)
	if err != nil {
		return keyfile.In(k.Path, err)
	}
	k.Secret = kf.Secret
	fail := func(field string, format string, args ...any) error {
		return keyfile.In(k.Path, &keyfile.Error{Line: kf.Line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	// The gateway's realm goes with its default scheme whatever that is: a
	// file that names scheme v3 at a gateway whose default is v2 takes it too.
	def := k.Params
	def.Realm = defaults.Realm
	if k.Params, err = kf.Params(def); err != nil {
		return keyfile.In(k.Path, err)
	}
	if err := checkEntropy(k.Params); err != nil {
		return fmt.Errorf("key file %s: %w", k.Path, err)
	}
	if n, ok, err := kf.Int("uses"); err != nil {
		return keyfile.In(k.Path, err)
	} else if ok {
		if n < 0 || n > 1<<31 {
			return fail("uses", "out of range: %d", n)
		}
		k.Uses = int(n)
	}
	if err := checkUses(k.Uses); err != nil {
		return fail("uses", "%v", err)
	}

	if s, ok, err := kf.String("open", `a duration string such as "90s"`); err != nil {
		return keyfile.In(k.Path, err)
	} else if ok {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fail("open", "%q is not a duration such as \"90s\"", s)
		}
		if err := checkOpen(d); err != nil {
			return fail("open", "%v", err)
		}
		k.Open = d
	}

	list, ok, err := kf.Strings("services", `a list such as ["tcp/22"]`)
	if err != nil {
		return keyfile.In(k.Path, err)
	}
	if ok {
		k.Services = nil
		for i, s := range list {
			svc, err := protected.ParseService(s)
			if err != nil {
				return fail("services", "item %d: %v", i+1, err)
			}
			if slices.Contains(defaults.Public, svc) {
				return fail("services", "item %d: %s is public in hypd.toml; only a protected service can be granted", i+1, svc)
			}
			if slices.Contains(k.Services, svc) {
				return fail("services", "item %d: %s listed twice", i+1, svc)
			}
			k.Services = append(k.Services, svc)
		}
		if len(k.Services) == 0 {
			return fail("services", "empty; a key must open something")
		}
	}
	return nil
}

// ValidKeyName reports why name cannot name a key file, or nil: it must be
// 1..64 bytes of letters, digits, '.', '_', '-' or '@', and not start with
// a dot (hidden files are ignored by LoadKeys).
func ValidKeyName(name string) error {
	if name == "" {
		return errors.New("key name is empty")
	}
	if len(name) > 64 {
		return fmt.Errorf("key name %q is longer than 64 bytes", name)
	}
	if name[0] == '.' {
		return fmt.Errorf("key name %q starts with a dot", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)) {
			return fmt.Errorf("key name %q: character %q not allowed (use letters, digits, '.', '_', '-', '@')", name, c)
		}
	}
	return nil
}

// WriteKeyFile stores k in dir as NAME.key (just the base32 secret) when
// nothing but the secret differs from the defaults, else as NAME.toml with
// the settings that do. A v3 key's realm is written only when it is set: a
// file without one takes the realm of the gateway that loads it. A field that is zero or equal to its default
// (sequence.Defaults(), Default().Open, Default().Uses; no services) is left
// out, so hypd applies hypd.toml's setting to it when it loads the key.
// The file is written 0600 through a temporary file, fsync and rename, so
// hypd never reads half a key. Without force an existing key of that name
// is an error; with force it is replaced.
func WriteKeyFile(dir, name string, k Key, force bool) (path string, err error) {
	if err := ValidKeyName(name); err != nil {
		return "", err
	}
	if k.Secret.IsZero() {
		return "", fmt.Errorf("key %q: no secret", name)
	}
	content, ext, err := keyFileContent(k)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating keys directory: %w", err)
	}
	path = filepath.Join(dir, name+ext)
	other := filepath.Join(dir, name+keyExt)
	if ext == keyExt {
		other = filepath.Join(dir, name+tomlExt)
	}
	if !force {
		for _, p := range []string{path, other} {
			if _, err := os.Lstat(p); err == nil {
				return "", fmt.Errorf("key file %s exists; use --force to replace it", p)
			}
		}
	}

	if force {
		err = atomicfile.Write(path, content, 0o600)
	} else {
		// Create fails if path appeared since the check above: never overwrite without
		// force, even in a race.
		err = atomicfile.Create(path, content, 0o600)
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("key file %s exists; use --force to replace it", path)
		}
	}
	if err != nil {
		return "", fmt.Errorf("installing key file: %w", err)
	}
	if force {
		// A NAME.key next to a NAME.toml would be the same key name twice.
		if err := os.Remove(other); err != nil && !errors.Is(err, os.ErrNotExist) {
			return path, fmt.Errorf("removing the replaced key file: %w", err)
		}
	}
	return path, nil
}

// keyFileContent renders k as a plain or a .toml key file.
func keyFileContent(k Key) ([]byte, string, error) {
	var b strings.Builder
	set := func(key, value string) { fmt.Fprintf(&b, "%s = %s\n", key, value) }
	def := Default()
	if k.Params.Scheme == sequence.V3 {
		// Only what differs from v3's defaults: a key file that names no
		// realm takes the gateway's, so one file serves a fleet of realms.
		if err := k.Params.Validate(); err != nil {
			return nil, "", err
		}
		set("scheme", strconv.Quote(string(k.Params.Scheme)))
		if k.Params.Realm != "" {
			set("realm", strconv.Quote(k.Params.Realm))
		}
		d := sequence.V3Defaults(k.Params.Realm)
		if k.Params.Length != d.Length {
			set("length", strconv.Itoa(k.Params.Length))
		}
		if k.Params.Step != d.Step {
			set("step", strconv.FormatInt(k.Params.Step, 10))
		}
		if k.Params.Low != d.Low || k.Params.High != d.High {
			set("low", strconv.Itoa(int(k.Params.Low)))
			set("high", strconv.Itoa(int(k.Params.High)))
		}
	} else if k.Params != (sequence.Params{}) && k.Params != sequence.Defaults() {
		if err := k.Params.Validate(); err != nil {
			return nil, "", err
		}
		set("scheme", strconv.Quote(string(k.Params.Scheme)))
		if k.Params.Scheme != sequence.Hyp {
			set("length", strconv.Itoa(k.Params.Length))
			set("step", strconv.FormatInt(k.Params.Step, 10))
			set("low", strconv.Itoa(int(k.Params.Low)))
			set("high", strconv.Itoa(int(k.Params.High)))
		}
	}
	if len(k.Services) > 0 {
		q := make([]string, len(k.Services))
		for i, s := range k.Services {
			if err := s.Validate(); err != nil {
				return nil, "", fmt.Errorf("services: %w", err)
			}
			q[i] = strconv.Quote(s.String())
		}
		set("services", "["+strings.Join(q, ", ")+"]")
	}
	if k.Open != 0 && k.Open != def.Open {
		if err := checkOpen(k.Open); err != nil {
			return nil, "", fmt.Errorf("open: %w", err)
		}
		set("open", strconv.Quote(k.Open.String()))
	}
	if k.Uses != 0 && k.Uses != def.Uses {
		if err := checkUses(k.Uses); err != nil {
			return nil, "", fmt.Errorf("uses: %w", err)
		}
		set("uses", strconv.Itoa(k.Uses))
	}
	if b.Len() == 0 {
		return []byte(k.Secret.Encode() + "\n"), keyExt, nil
	}
	return []byte("secret = " + strconv.Quote(k.Secret.Encode()) + "\n" + b.String()), tomlExt, nil
}

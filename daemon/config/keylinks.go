package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// linkProblem says why a key file that was opened as opened may not be trusted for where it
// lives, or returns nil. Only what is in the keys directory is watched: a key file that is a
// symlink to a file elsewhere would stay loaded when that file is removed or edited, since
// neither is an event in the keys directory (the attacker review: a key revoked where the
// files are kept kept opening). So every symlink on the way must be in the keys directory, and
// the file itself too, or, reached through the keys directory's ..data link, in the directory
// right under it that ..data leads to: the ..TIMESTAMP directory of a Kubernetes secret volume,
// whose NAME -> ..data/NAME -> ..TIMESTAMP/NAME changes only by the ..data swap the watch sees
// (a file edited or removed in place in any subdirectory is no event in the keys directory). Refused, the key is not loaded and its services stay hidden.
// The file found at the end must be the one opened, or it was swapped while being read.
// In a sticky keys directory (others may add entries), the entry and every link on the way
// must be root's as found after the open: another user's entries come and go at will, and only
// what leads to the file opened tells whose it was (the third attacker review).
func linkProblem(path string, opened fs.FileInfo, sticky bool) error {
	lfi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if sticky {
		if why := entryOwnerProblem(lfi); why != "" {
			return fmt.Errorf("key file %s: %s", path, why)
		}
	}
	if lfi.Mode()&fs.ModeSymlink == 0 {
		if !sameFile(lfi, opened) {
			return fmt.Errorf("key file %s: replaced while being read; ignored until the next change", path)
		}
		return nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("key file %s: resolving the keys directory: %w", path, err)
	}
	ch, err := walkPath(filepath.Join(dir, filepath.Base(path)))
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if ch.target == "" {
		return fmt.Errorf("key file %s: symlink to %s, which is missing", path, ch.missing)
	}
	for _, l := range ch.links {
		if filepath.Dir(l) != dir {
			return fmt.Errorf("key file %s: a symlink whose way goes through %s, outside the keys directory %s, where a change (a key removed) is no event hypd sees; refused (move the file into the keys directory)", path, l, dir)
		}
		if sticky {
			li, err := os.Lstat(l)
			if err != nil {
				return fmt.Errorf("key file %s: symlink %s on its way gone while being read; ignored until the next change", path, l)
			}
			if why := entryOwnerProblem(li); why != "" {
				return fmt.Errorf("key file %s: symlink %s on its way is %s", path, l, why)
			}
		}
	}
	if in := filepath.Dir(ch.target); in != dir && !throughData(dir, in, ch.links) {
		return fmt.Errorf("key file %s: a symlink to %s, outside the keys directory %s (and not in the directory its ..data link leads to), where a change (a key removed) is no event hypd sees; refused (move the file into the keys directory)", path, ch.target, dir)
	}
	tfi, err := os.Lstat(ch.target)
	if err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if !sameFile(tfi, opened) {
		return fmt.Errorf("key file %s: replaced while being read; ignored until the next change", path)
	}
	return nil
}

// throughData reports whether a key file's way (links) goes through the ..data link of the keys
// directory dir, and ends in in, the directory right in dir that ..data leads to.
func throughData(dir, in string, links []string) bool {
	data := filepath.Join(dir, dataLink)
	if filepath.Dir(in) != dir || !slices.Contains(links, data) {
		return false
	}
	ch, err := walkPath(data)
	return err == nil && ch.target == in
}

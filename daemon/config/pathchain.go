package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// maxLinks bounds the symlinks one path may go through, as the kernel does (ELOOP).
const maxLinks = 40

// pathChain is what a path goes through on its way to what it names: every symlink, and the
// directory that holds each. A change to any of them (a link renamed over, a directory
// replaced) changes what the path names, and only the directories holding them see it.
// Every path in it is free of symlinks, so one directory is never known by two names.
type pathChain struct {
	// target is the path with every symlink resolved; "" when some part of it is missing.
	target string
	// missing is the first part of the path that does not exist (its parent resolved), when
	// target is "".
	missing string
	// links are the symlinks met, each by where it is (its parent resolved), in order.
	links []string
	// parents are the directories to watch for the path to change: those holding the links,
	// and the one holding target or missing. Without duplicates.
	parents []string
}

// walkPath follows path one component at a time, as the kernel does, and records every symlink
// it goes through. A missing component (or a file where a directory should be) is no error: the
// chain then ends there, in missing.
func walkPath(path string) (pathChain, error) {
	var ch pathChain
	abs, err := filepath.Abs(path)
	if err != nil {
		return ch, fmt.Errorf("resolving %s: %w", path, err)
	}
	root := filepath.VolumeName(abs) + string(filepath.Separator)
	resolved := root
	rest := split(abs[len(root):])
	addParent := func(dir string) {
		if !slices.Contains(ch.parents, dir) {
			ch.parents = append(ch.parents, dir)
		}
	}
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		p := filepath.Join(resolved, c)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			ch.missing = p
			addParent(resolved)
			return ch, nil
		}
		if err != nil {
			return ch, fmt.Errorf("resolving %s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = p
			continue
		}
		if len(ch.links) == maxLinks {
			return ch, fmt.Errorf("resolving %s: more than %d symlinks", path, maxLinks)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return ch, fmt.Errorf("resolving %s: %w", path, err)
		}
		ch.links = append(ch.links, p)
		addParent(resolved)
		if filepath.IsAbs(target) {
			r := filepath.VolumeName(target) + string(filepath.Separator)
			resolved, target = r, target[len(r):]
		}
		rest = append(split(target), rest...)
	}
	ch.target = resolved
	addParent(filepath.Dir(resolved))
	return ch, nil
}

// split cuts p into its components; not cleaned, since "link/.." is the parent of the link's
// target, not the directory holding the link. The walk skips empty and "." components.
func split(p string) []string {
	return strings.Split(p, string(filepath.Separator))
}

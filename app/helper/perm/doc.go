// Package perm decides which files the helper service may trust with its rights: the store it
// keeps keys in (root's 0700 directory and 0600 files; on Windows owned by Administrators with
// an ACL that admits only SYSTEM and Administrators, protected from ProgramData's inherited
// entries, and no junction or link on the way) and the executable it installs as the root or
// LocalSystem service (changeable by nobody else, nor any folder above it).
//
// It owns the checks, not the files: app/helper/store calls SecureDir and CheckPrivate at every
// change and load, app/helper calls CheckExecutable before it installs the service and
// MakePrivate before it opens its log. RequireAdmin is the one-line refusal every privileged
// entry point makes first. Nothing here reads a key.
package perm

// Package elevate is the hand-over from a user to the helper across a change of rights:
// `hyp helper add` runs as root (sudo, pkexec) or as an elevated administrator, yet must read
// the invoking user's profile with that user's rights, not its own, or an elevated hyp would
// read for the user a key file only root or administrators may read (then knock it at a host
// of the user's choosing).
//
// On Linux AsUser runs a function on a thread that has dropped to the user's uid, gid and
// groups; on Windows ReadKeyFile opens a key file once (never through a link at its name), asks
// the unelevated token UAC linked to this one whether it may read it by the ACL of that handle,
// and reads the key from the same handle. Who may enter: only the elevated `hyp helper add` path; a process
// that is not elevated has nothing to hand over and gains nothing here.
package elevate

// Package systemdtest drives hyp's real services under a real systemd: it boots a minimal Debian
// root with systemd-nspawn, joins it to a client network namespace with a veth pair, and runs
// hypd (and the client helper) inside it exactly as an administrator would, through systemctl,
// `hypd install` and the .deb.
//
// The tests are behind the build tag nspawn, because they need a cached Debian root (built by
// packaging/test/rootfs.sh) and a few seconds per container; .ci/stages/30-systemd.sh runs them:
//
//	HYP_NSPAWN_ROOT=/var/cache/hyp-nspawn/.../root HYP_BIN=$PWD/bin HYP_DIST=$PWD/dist \
//	  go test -tags nspawn -count=1 -v ./packaging/systemdtest/
//
// Boot a container with Boot, enter it with Container.Exec, give it a client with
// Container.LinkClient. Every container runs on a throw-away overlay of the cached root
// (--volatile=overlay), so the cache is never written, and is killed with everything it made
// when the test ends, pass or fail.
package systemdtest

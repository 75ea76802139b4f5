//go:build !(linux && (amd64 || arm64))

package elevate

import (
	"errors"
	"runtime"
)

// AsUser would run fn with another user's file-system rights; it is built
// for Linux on amd64 and arm64 (the packages' targets) only. Elsewhere an
// elevated hyp takes the profile's URI on stdin instead.
func AsUser(uid, gid int, groups []int, fn func() error) error {
	return errors.New("reading another user's profiles with their rights is not built for " + runtime.GOOS + "/" + runtime.GOARCH + ": pipe the URI in (hyp profile export NAME | hyp helper add NAME -)")
}

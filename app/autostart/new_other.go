//go:build !windows && (!unix || darwin || ios || android)

package autostart

// New reports ErrUnsupported: no autostart store here.
func New(string) (Setting, error) { return nil, ErrUnsupported }

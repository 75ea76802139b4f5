//go:build !windows

package elevate

// CheckInvokerMayRead is Windows': elsewhere `hyp helper add` reads the invoking user's files
// with that user's rights (AsUser) and needs no separate check.
func CheckInvokerMayRead(string) error { return nil }

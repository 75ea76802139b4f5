//go:build !linux

package main

import "errors"

func run(options) error {
	return errors.New("the gateway benchmarks need Linux (network namespaces, XDP, nftables)")
}

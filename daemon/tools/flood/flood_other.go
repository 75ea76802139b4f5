//go:build !linux

package main

import (
	"errors"
	"time"
)

type result struct {
	sent    int
	elapsed time.Duration
}

func flood(options) (result, error) {
	return result{}, errors.New("flood needs Linux (sendmmsg)")
}

//go:build !linux

package detector

import (
	"context"
	"errors"
	"runtime"
	"time"
)

var errNotLinux = errors.New("knock detector: XDP needs Linux, not " + runtime.GOOS)

// Detector is a stub: the knock detector runs only on Linux.
type Detector struct{}

// Load fails: the knock detector runs only on Linux.
func Load(Config) (*Detector, error) { return nil, errNotLinux }

// Open fails: the knock detector runs only on Linux.
func Open(Config) (*Detector, error) { return nil, errNotLinux }

// SetKnockTimeout fails: the knock detector runs only on Linux.
func (d *Detector) SetKnockTimeout(time.Duration) error { return errNotLinux }

// SetUDPServices is unavailable on this platform.
func (d *Detector) SetUDPServices([]uint16) error { return errNotLinux }

// SetSequences fails: the knock detector runs only on Linux.
func (d *Detector) SetSequences([]Sequence) error { return errNotLinux }

// Update fails: the knock detector runs only on Linux.
func (d *Detector) Update([]Ref, []Sequence) error { return errNotLinux }

// Remove fails: the knock detector runs only on Linux.
func (d *Detector) Remove(uint32, uint64, uint32) error { return errNotLinux }

// MarkSpent fails: the knock detector runs only on Linux.
func (d *Detector) MarkSpent(uint32, uint64, uint32) error { return errNotLinux }

// Len is 0: nothing is ever loaded.
func (d *Detector) Len() int { return 0 }

// Read fails: the knock detector runs only on Linux.
func (d *Detector) Read(context.Context) (Record, error) { return Record{}, errNotLinux }

// Counters fails: the knock detector runs only on Linux.
func (d *Detector) Counters() (Counters, error) { return Counters{}, errNotLinux }

// AttachModes is empty: nothing is ever attached.
func (d *Detector) AttachModes() map[string]string { return map[string]string{} }

// Interfaces is empty: nothing is ever attached.
func (d *Detector) Interfaces() []InterfaceState { return nil }

// ConntrackReplies is false: nothing is ever loaded.
func (d *Detector) ConntrackReplies() bool { return false }

// ReplyPrefilter is false: nothing is ever loaded.
func (d *Detector) ReplyPrefilter() bool { return false }

// RunStats fails: the knock detector runs only on Linux.
func (d *Detector) RunStats() (uint64, uint64, error) { return 0, 0, errNotLinux }

// Close does nothing.
func (d *Detector) Close() error { return nil }

package bpf

import (
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// The pending array has PendWays entries a bucket and a power of two of buckets (the program
// masks the hash with their number - 1); too many is refused with the numbers.
func TestPendingArraySize(t *testing.T) {
	if got := len(PendBucket{}.E); got != PendWays {
		t.Errorf("PendBucket.E has %d entries, PendWays = %d", got, PendWays)
	}
	needs.Root(t, "loads a BPF program")
	for _, c := range []struct{ ask, want uint32 }{{0, DefaultPendBuckets}, {1, 1}, {1000, 1024}, {4096, 4096}, {MaxPendBuckets, MaxPendBuckets}} {
		o, err := Load(Options{MaxSequences: 1024, MaxSources: 128, PendBuckets: c.ask})
		if err != nil {
			t.Fatalf("PendBuckets %d: %v", c.ask, err)
		}
		got := o.Pending.MaxEntries()
		if err := o.Close(); err != nil {
			t.Error(err)
		}
		if got != c.want {
			t.Errorf("PendBuckets %d: %d buckets, want %d", c.ask, got, c.want)
		}
	}
	_, err := Load(Options{PendBuckets: MaxPendBuckets + 1})
	if err == nil || !strings.Contains(err.Error(), "PendBuckets 1048577 is over 1048576") {
		t.Errorf("PendBuckets over the limit: %v", err)
	}
}

// PendHash is keyed: one address lands in unrelated buckets under different seeds.
func TestPendHashKeyed(t *testing.T) {
	a := [4]uint32{0, 0, 0xffff0000, 0x024d0a0a}
	same := 0
	for s := range uint64(64) {
		if PendHash(s, a)&0xffff == PendHash(s+1000, a)&0xffff {
			same++
		}
	}
	if same > 2 {
		t.Errorf("%d of 64 seed pairs put one address in the same of 65,536 buckets", same)
	}
	if PendHash(1, a) == PendHash(1, [4]uint32{0, 0, 0xffff0000, 0x034d0a0a}) {
		t.Error("two addresses hash alike")
	}
}

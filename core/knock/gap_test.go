package knock

import (
	"testing"
	"time"
)

func TestJitterStaysInRange(t *testing.T) {
	s := &Sender{Gap: 10 * time.Millisecond, MaxJitter: 5 * time.Millisecond}
	seen := map[bool]bool{}
	for range 1000 {
		g := s.gap()
		if g < s.Gap || g > s.Gap+s.MaxJitter {
			t.Fatalf("gap %v outside [%v, %v]", g, s.Gap, s.Gap+s.MaxJitter)
		}
		seen[g == s.Gap] = true
	}
	if !seen[false] {
		t.Error("jitter never added anything")
	}
	if g := (&Sender{Gap: time.Second}).gap(); g != time.Second {
		t.Errorf("no jitter: %v", g)
	}
}

package detector

import (
	"testing"

	"github.com/hideyourports/hyp/bpf"
)

// Tagged sequences of every length, short (kept in the flat per-slot array) and long (kept
// apart), leave no tag behind in the kernel when they are removed or replaced, and a replaced
// sequence's new tags are what the kernel holds.
func TestTableTagsOfEveryLength(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(64)
	tagged := func(window uint64, salt uint64) []Sequence {
		var out []Sequence
		for n := 1; n <= bpf.MaxTagLen; n++ {
			s := Sequence{KeyID: uint32(n), Window: window}
			for i := range n {
				s.Ports = append(s.Ports, uint16(2000+100*n+i))
				s.Tags = append(s.Tags, salt<<32|window<<16|uint64(n)<<8|uint64(i))
			}
			out = append(out, s)
		}
		return out
	}
	if err := tab.apply(k, nil, append(tagged(1, 1), tagged(2, 1)...)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	want := 2 * bpf.MaxTagLen * (bpf.MaxTagLen + 1) / 2
	if len(k.tags) != want {
		t.Fatalf("%d tags loaded, want %d", len(k.tags), want)
	}
	// A step: window 1 goes, window 3 comes; window 2 is replaced by other tags.
	var rm []Ref
	for n := 1; n <= bpf.MaxTagLen; n++ {
		rm = append(rm, Ref{KeyID: uint32(n), Window: 1})
	}
	if err := tab.apply(k, rm, append(tagged(2, 2), tagged(3, 1)...)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if len(k.tags) != want {
		t.Errorf("%d tags loaded after the step, want %d (none of the removed ones)", len(k.tags), want)
	}
	for _, s := range tagged(2, 1) {
		for _, tag := range s.Tags {
			if _, ok := k.tags[tag]; ok {
				t.Errorf("tag %#x of a replaced sequence still loaded", tag)
			}
		}
	}
	// Everything removed: no tag left.
	rm = rm[:0]
	for n := 1; n <= bpf.MaxTagLen; n++ {
		rm = append(rm, Ref{KeyID: uint32(n), Window: 2}, Ref{KeyID: uint32(n), Window: 3})
	}
	if err := tab.apply(k, rm, nil); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if len(k.tags) != 0 || len(tab.longTags) != 0 {
		t.Errorf("%d tags in the kernel, %d long ones remembered, after every sequence went", len(k.tags), len(tab.longTags))
	}
}

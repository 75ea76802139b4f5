package detector

import (
	"slices"
	"testing"
)

// The first-port bitmap is written only where a word changes: a port that starts a sequence
// before and after a change costs no write (at 100,000 keys nearly every port does, and a time
// step rewrote all 1,024 words in every chunk of its change), and one whose last sequence goes,
// or whose first arrives, is written.
func TestTableWritesOnlyChangedBits(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(16)
	// Keys 0..4 start at ports 1000..1004, in window 1.
	if err := tab.apply(k, nil, seqs(5, 1)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if n := countOf(k.log, "bits"); n != 1 {
		t.Fatalf("first load: %d bitmap words written, want 1 (ports 1000..1004 share one)", n)
	}
	// Window 2 replaces window 1 at the same first ports: no word changes.
	k.log = nil
	var rm []Ref
	for i := range 5 {
		rm = append(rm, Ref{KeyID: uint32(i), Window: 1})
	}
	if err := tab.apply(k, rm, seqs(5, 2)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if slices.Contains(k.log, "bits") {
		t.Errorf("bitmap written though no first port changed: %v", k.log)
	}
	// A sequence at a new first port sets its bit; removing it clears the bit again.
	k.log = nil
	extra := Sequence{KeyID: 50, Window: 2, Ports: []uint16{4000, 1, 2}}
	if err := tab.apply(k, nil, []Sequence{extra}); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if n := countOf(k.log, "bits"); n != 1 || k.log[len(k.log)-1] != "bits" {
		t.Errorf("new first port: writes %v, want one bitmap word, last", k.log)
	}
	k.log = nil
	if err := tab.apply(k, []Ref{{KeyID: 50, Window: 2}}, nil); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if n := countOf(k.log, "bits"); n != 1 {
		t.Errorf("first port gone: writes %v, want one bitmap word", k.log)
	}
	// A failed bitmap write is retried by the next change, though that change moves no port.
	k.fail = func(op string) bool { return op == "bits" }
	if err := tab.apply(k, nil, []Sequence{extra}); err == nil {
		t.Fatal("bitmap write failure not reported")
	}
	k.fail = nil
	if err := tab.apply(k, nil, seqs(5, 2)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
}

func countOf(log []string, op string) int {
	n := 0
	for _, s := range log {
		if s == op {
			n++
		}
	}
	return n
}

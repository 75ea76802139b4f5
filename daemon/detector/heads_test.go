package detector

import "testing"

// Key ids below the table's size and above it (kept apart: heads and byKey) are found, replaced
// and removed alike, also when one key's chain holds several windows.
func TestTableKeyIDsSmallAndLarge(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(16)
	ids := []uint32{0, 1, 15, 16, 1 << 31, 0xffffffff}
	mk := func(w uint64) []Sequence {
		var out []Sequence
		for i, id := range ids {
			out = append(out, Sequence{KeyID: id, Window: w, Ports: []uint16{uint16(3000 + i), uint16(w), 7}})
		}
		return out
	}
	if err := tab.apply(k, nil, append(mk(1), mk(2)...)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	for w := uint64(3); w < 10; w++ {
		var rm []Ref
		for _, id := range ids {
			rm = append(rm, Ref{KeyID: id, Window: w - 2})
		}
		if err := tab.apply(k, rm, mk(w)); err != nil {
			t.Fatalf("window %d: %v", w, err)
		}
		k.check(t, tab)
		if tab.len() != 2*len(ids) {
			t.Fatalf("window %d: %d live, want %d", w, tab.len(), 2*len(ids))
		}
		for _, id := range ids {
			for _, win := range []uint64{w - 1, w} {
				if _, ok := tab.find(newIdent(id, win, 0)); !ok {
					t.Errorf("window %d: key %d window %d not found", w, id, win)
				}
			}
			if _, ok := tab.find(newIdent(id, w-2, 0)); ok {
				t.Errorf("window %d: key %d window %d found after its removal", w, id, w-2)
			}
		}
	}
	var rm []Ref
	for _, id := range ids {
		rm = append(rm, Ref{KeyID: id, Window: 8}, Ref{KeyID: id, Window: 9})
	}
	if err := tab.apply(k, rm, nil); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if tab.len() != 0 || len(tab.byKey) != 0 {
		t.Errorf("%d live, %d large key ids remembered, after every sequence went", tab.len(), len(tab.byKey))
	}
	for _, h := range tab.heads {
		if h != 0 {
			t.Fatal("a key id's chain outlived its sequences")
		}
	}
}

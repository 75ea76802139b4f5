package spent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpendOnceAndPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "spent.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	u := Use{KeyID: "abcd1234", Window: 100, Counter: 0}
	if s.Spent(u) {
		t.Fatal("fresh store says spent")
	}
	if ok, err := s.Spend(u); err != nil || !ok {
		t.Fatalf("first Spend = %v, %v; want true, nil", ok, err)
	}
	if ok, err := s.Spend(u); err != nil || ok {
		t.Fatalf("second Spend = %v, %v; want false, nil", ok, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}

	// A restarted daemon must still refuse the spent sequence.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Spent(u) {
		t.Fatal("spent use forgotten after reopen")
	}
	if s2.Spent(Use{KeyID: "abcd1234", Window: 100, Counter: 1}) {
		t.Fatal("other counter reported spent")
	}
}

func TestPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spent.json")
	s, _ := Open(path)
	for w := uint64(1); w <= 5; w++ {
		if _, err := s.Spend(Use{KeyID: "k", Window: w}); err != nil {
			t.Fatal(err)
		}
	}
	s.Spend(Use{KeyID: "gone", Window: 5})
	err := s.Prune(func(id string) (uint64, bool) {
		if id == "k" {
			return 4, true
		}
		return 0, false
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Len(); got != 2 {
		t.Fatalf("after prune %d uses remain, want 2", got)
	}
	s2, _ := Open(path)
	if !s2.Spent(Use{KeyID: "k", Window: 5}) || s2.Spent(Use{KeyID: "k", Window: 3}) || s2.Spent(Use{KeyID: "gone", Window: 5}) {
		t.Fatal("pruned state not persisted as expected")
	}
}

func TestCorruptStateNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spent.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	_, err := Open(path)
	if err == nil {
		t.Fatal("corrupt state accepted")
	}
	if want := path; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

func TestWriteFileAtomicLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(ents))
	}
}

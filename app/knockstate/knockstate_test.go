package knockstate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

func testKey(t *testing.T, b byte) psk.Key {
	t.Helper()
	k, err := psk.New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// at is a time inside window w of a 30-second step, off seconds in.
func at(w uint64, off int64) time.Time { return time.Unix(int64(w)*30+off, 0) }

func reserveAll(t *testing.T, r Reserver, k psk.Key, p sequence.Params, uses int, now time.Time, n int) []Use {
	t.Helper()
	var out []Use
	for i := 0; i < n; i++ {
		u, err := r.Reserve(k, p, "", uses, now)
		if err != nil {
			t.Fatalf("reservation %d: %v", i+1, err)
		}
		out = append(out, u)
	}
	return out
}

func TestOrderOneUse(t *testing.T) {
	var m Memory
	k, p := testKey(t, 1), sequence.Defaults()
	got := reserveAll(t, &m, k, p, 1, at(1000, 3), 3)
	want := []Use{{1000, 0}, {1001, 0}, {999, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("uses %v, want %v", got, want)
	}
	_, err := m.Reserve(k, p, "", 1, at(1000, 29))
	var ex *ExhaustedError
	if !errors.As(err, &ex) || !ex.Next.Equal(at(1001, 0)) {
		t.Fatalf("fourth knock in one step: %v, want ExhaustedError until %v", err, at(1001, 0))
	}
	if !strings.Contains(err.Error(), "accepted from") {
		t.Errorf("error does not say when: %v", err)
	}
	// The next step makes window 1002 acceptable; 1001 and 1000 are spent.
	if u, err := m.Reserve(k, p, "", 1, at(1001, 0)); err != nil || u != (Use{1002, 0}) {
		t.Fatalf("next step: %v, %v; want {1002 0}", u, err)
	}
}

func TestOrderSeveralUses(t *testing.T) {
	var m Memory
	k, p := testKey(t, 2), sequence.Defaults()
	got := reserveAll(t, &m, k, p, 2, at(50, 0), 6)
	want := []Use{{50, 0}, {50, 1}, {51, 0}, {51, 1}, {49, 0}, {49, 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("uses %v, want %v", got, want)
	}
}

func TestHypSchemeHasNoCounter(t *testing.T) {
	var m Memory
	got := reserveAll(t, &m, testKey(t, 3), sequence.HypDefaults(), 5, at(7, 0), 3)
	for _, u := range got {
		if u.Counter != 0 {
			t.Fatalf("hyp scheme got counter %d in %v", u.Counter, got)
		}
	}
}

func TestKeysAndStepsApart(t *testing.T) {
	var m Memory
	p := sequence.Defaults()
	a, b := testKey(t, 4), testKey(t, 5)
	if u, _ := m.Reserve(a, p, "", 1, at(10, 0)); u != (Use{10, 0}) {
		t.Fatalf("key a: %v", u)
	}
	if u, _ := m.Reserve(b, p, "", 1, at(10, 0)); u != (Use{10, 0}) {
		t.Fatalf("key b shares key a's state: %v", u)
	}
	p60 := p
	p60.Step = 60
	if u, _ := m.Reserve(a, p60, "", 1, at(10, 0)); u != (Use{5, 0}) {
		t.Fatalf("key a with step 60: %v, want {5 0}", u)
	}
}

func TestFirstWindowHasNoPredecessor(t *testing.T) {
	var m Memory
	got := reserveAll(t, &m, testKey(t, 6), sequence.Defaults(), 1, at(0, 1), 2)
	if fmt.Sprint(got) != fmt.Sprint([]Use{{0, 0}, {1, 0}}) {
		t.Fatalf("uses %v", got)
	}
	if _, err := m.Reserve(testKey(t, 6), sequence.Defaults(), "", 1, at(0, 2)); err == nil {
		t.Fatal("a third knock in window 0 got a use; there is no window -1")
	}
}

func TestBadInput(t *testing.T) {
	var m Memory
	if _, err := m.Reserve(psk.Key{}, sequence.Defaults(), "", 1, at(1, 0)); err == nil {
		t.Error("a zero key was accepted")
	}
	p := sequence.Defaults()
	p.Step = 0
	if _, err := m.Reserve(testKey(t, 7), p, "", 1, at(1, 0)); err == nil {
		t.Error("step 0 was accepted")
	}
}

func TestFileKeepsStateAndNoSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", FileName)
	k, p := testKey(t, 8), sequence.Defaults()
	if u, err := (&File{Path: path}).Reserve(k, p, "", 1, at(300, 0)); err != nil || u != (Use{300, 0}) {
		t.Fatalf("first: %v, %v", u, err)
	}
	// Another File (another process) sees the first reservation.
	if u, err := (&File{Path: path}).Reserve(k, p, "", 1, at(300, 5)); err != nil || u != (Use{301, 0}) {
		t.Fatalf("second: %v, %v", u, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(k.Encode())) || bytes.Contains(b, bytes.Repeat([]byte{8}, 8)) {
		t.Fatalf("the state file holds the key: %s", b)
	}
	if !bytes.Contains(b, []byte(k.Fingerprint().String())) {
		t.Fatalf("the state file does not name the key by its fingerprint: %s", b)
	}
	// Windows has no mode bits; the file lives in the user's own profile.
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("state file mode: %v, %v", fi.Mode(), err)
	}
}

func TestFilePrunes(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f := &File{Path: path}
	p := sequence.Defaults()
	old, cur := testKey(t, 9), testKey(t, 10)
	reserveAll(t, f, old, p, 1, at(100, 0), 3)
	reserveAll(t, f, cur, p, 1, at(100+keep+2, 0), 1)
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(old.Fingerprint().String())) {
		t.Fatalf("a key unused for %d windows is still in the state: %s", keep+2, b)
	}
}

func TestFileDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := (&File{Path: path}).Reserve(testKey(t, 11), sequence.Defaults(), "", 1, at(1, 0))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Fatalf("a damaged state file was overwritten: %q", b)
	}
}

// TestFileConcurrent: many Files on one path, each with its own lock file
// descriptor as separate processes have, never hand out the same use.
func TestFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	k, p := testKey(t, 12), sequence.Defaults()
	const n = 24
	var wg sync.WaitGroup
	got := make(chan Use, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := (&File{Path: path}).Reserve(k, p, "", 16, at(40, 0))
			if err != nil {
				t.Error(err)
				return
			}
			got <- u
		}()
	}
	wg.Wait()
	close(got)
	seen := map[Use]bool{}
	for u := range got {
		if seen[u] {
			t.Fatalf("use %v handed out twice", u)
		}
		seen[u] = true
	}
	if len(seen) != n {
		t.Fatalf("%d uses, want %d", len(seen), n)
	}
}

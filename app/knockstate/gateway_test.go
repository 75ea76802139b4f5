package knockstate

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/sequence"
)

// TestBudgetPerGateway: a key's uses at one gateway address leave its uses
// at another untouched, so a typo'd host that resolves elsewhere cannot spend
// the real gateway's knocks.
func TestBudgetPerGateway(t *testing.T) {
	var m Memory
	k, p := testKey(t, 21), sequence.Defaults()
	for i := 0; i < 3; i++ {
		if _, err := m.Reserve(k, p, "10.77.1.1", 1, at(500, 1)); err != nil {
			t.Fatalf("knock %d at 10.77.1.1: %v", i+1, err)
		}
	}
	if _, err := m.Reserve(k, p, "10.77.1.1", 1, at(500, 2)); !errors.As(err, new(*ExhaustedError)) {
		t.Fatalf("a fourth knock at 10.77.1.1: %v, want ExhaustedError", err)
	}
	if u, err := m.Reserve(k, p, "10.77.2.2", 1, at(500, 2)); err != nil || u != (Use{500, 0}) {
		t.Fatalf("the first knock at another gateway: %v %v, want window 500 use 0", u, err)
	}
}

// TestExhaustedCarriesCause: once the budget is spent, the error gives what
// the checked knocks came to, not merely that it is spent; an answer clears it.
func TestExhaustedCarriesCause(t *testing.T) {
	f := &File{Path: filepath.Join(t.TempDir(), "knocks.json")}
	k, p := testKey(t, 22), sequence.Defaults()
	if n, err := f.Record(k, p, "gw", Outcome{Cause: "x"}, at(700, 0)); err != nil || n != 0 {
		t.Fatalf("Record without a use: %d %v, want 0 (nothing to explain)", n, err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := f.Reserve(k, p, "gw", 1, at(700, 0)); err != nil {
			t.Fatal(err)
		}
		n, err := f.Record(k, p, "gw", Outcome{Cause: "no answer from tcp/22"}, at(700, 0))
		if err != nil || n != i {
			t.Fatalf("Record %d: %d %v", i, n, err)
		}
	}
	_, err := f.Reserve(k, p, "gw", 1, at(700, 1))
	var ex *ExhaustedError
	if !errors.As(err, &ex) || ex.Unanswered != 3 || !strings.HasPrefix(err.Error(), "no answer after 3 knocks (last error: no answer from tcp/22); ") || !strings.Contains(err.Error(), "the next one is accepted from") {
		t.Fatalf("spent budget after three silent knocks: %v", err)
	}
	if n, err := f.Record(k, p, "gw", Outcome{Answered: true}, at(700, 1)); err != nil || n != 0 {
		t.Fatalf("Record answered: %d %v", n, err)
	}
	_, err = f.Reserve(k, p, "gw", 1, at(700, 1))
	if !errors.As(err, &ex) || ex.Cause != "" || strings.Contains(err.Error(), "no answer") {
		t.Fatalf("spent budget after an answer: %v", err)
	}
}

// Recent says whether a use went to a gateway in the windows remembered,
// per gateway, in the file as in memory.
func TestRecent(t *testing.T) {
	k, p := testKey(t, 23), sequence.Defaults()
	for _, r := range []Reserver{&Memory{}, &File{Path: filepath.Join(t.TempDir(), "knocks.json")}} {
		if ok, err := r.Recent(k, p, "gw", at(900, 0)); ok || err != nil {
			t.Fatalf("%T before any knock: %v %v", r, ok, err)
		}
		if _, err := r.Reserve(k, p, "gw", 1, at(900, 0)); err != nil {
			t.Fatal(err)
		}
		if ok, _ := r.Recent(k, p, "gw", at(905, 0)); !ok {
			t.Errorf("%T five steps later: not recent", r)
		}
		if ok, _ := r.Recent(k, p, "other", at(900, 1)); ok {
			t.Errorf("%T: a knock to gw counts for another gateway", r)
		}
		if ok, _ := r.Recent(k, p, "gw", at(900+keep+1, 0)); ok {
			t.Errorf("%T: still recent after the state forgot it", r)
		}
	}
}

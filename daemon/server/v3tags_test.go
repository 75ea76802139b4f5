package server

import (
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/spent"
)

// TestRefreshLoadsV3Tags: a v3 key's sequences reach the detector with their tags, the ones a
// client sends (sequence.At), so the kernel can recognise each datagram by its tag.
func TestRefreshLoadsV3Tags(t *testing.T) {
	key, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k := config.Key{Name: "laptop", Secret: key, Params: sequence.V3Defaults("gw1.example.com"),
		Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 1}
	st, err := spent.Open("")
	if err != nil {
		t.Fatal(err)
	}
	det := &fakeDetector{records: make(chan detector.Record, 4)}
	clk := &clock{t: time.Unix(1_795_000_000, 0)}
	s, err := New(Options{Skew: 1, Detector: det, Firewall: &fakeFirewall{}, Spent: st, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	seqs := det.loaded()
	if len(seqs) != 3 {
		t.Fatalf("%d sequences loaded, want 3", len(seqs))
	}
	for _, q := range seqs {
		c, err := sequence.At(key, k.Params, int64(q.Window)*k.Params.Step, q.Counter)
		if err != nil {
			t.Fatal(err)
		}
		if len(q.Tags) != k.Params.Length || !slices.Equal(q.Tags, c.Tags) || !slices.Equal(q.Ports, c.Ports) {
			t.Errorf("window %d: loaded ports %v tags %x, want %v %x", q.Window, q.Ports, q.Tags, c.Ports, c.Tags)
		}
	}
}

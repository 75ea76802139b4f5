package server

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/protected"
	"github.com/hideyourports/hyp/daemon/spent"
)

// The "key loaded" and "key changed" lines name the key's realm, so a key file that moved its
// key to another realm is in the audit trail; one whose file sets a realm other than the
// gateway's also gets a warning line.
func TestKeyLogLinesNameTheRealm(t *testing.T) {
	st, err := spent.Open("")
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	s, err := New(Options{Skew: 1, Detector: &fakeDetector{records: make(chan detector.Record, 1)}, Firewall: &fakeFirewall{}, Spent: st,
		Now: (&clock{t: time.Unix(1_795_000_000, 0)}).Now, Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k := config.Key{Name: "alice", Secret: secret, Params: sequence.V3Defaults("a"),
		Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 1}
	if err := s.SetKeys([]config.Key{k}); err != nil {
		t.Fatal(err)
	}
	moved := k
	moved.Params = sequence.V3Defaults("b")
	moved.RealmWarning = `key file alice.toml sets realm "b", not this gateway's realm "a"`
	if err := s.SetKeys([]config.Key{moved}); err != nil {
		t.Fatal(err)
	}
	var loaded, changed, warned bool
	for _, l := range logLines(t, &logBuf) {
		switch l["msg"] {
		case "key loaded":
			loaded = l["realm"] == "a"
		case "key changed":
			changed = l["realm"] == "b" && l["was_realm"] == "a"
		case "key realm differs from the gateway's":
			warned = l["level"] == "WARN" && l["key"] == "alice" && l["detail"] == moved.RealmWarning
		}
	}
	if !loaded || !changed || !warned {
		t.Errorf("realm a loaded %v, changed to b %v, warned %v; log:\n%s", loaded, changed, warned, logBuf.String())
	}
}

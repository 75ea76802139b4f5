package knock_test

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// A v3 knock puts each datagram's tag in its payload, whatever payload the
// Sender was given for other schemes, and a v3 knock of the vectors' key
// and realm sends exactly the vector's ports and tags.
func TestKnockerSendsV3Tags(t *testing.T) {
	k, err := psk.Parse("AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")
	if err != nil {
		t.Fatal(err)
	}
	params := sequence.V3Defaults("gw1.example.com")
	p := profile.Profile{Host: "192.0.2.1", Key: k, Params: params}
	c := &fakeConn{}
	var network string
	kn := &knock.Knocker{
		Sender: &knock.Sender{Listen: fakeListen(c, &network), Payload: []byte{0}},
		Now:    func() time.Time { return time.Unix(1764950400, 0) },
	}
	res, err := kn.Knock(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	// core/testdata/knock-v3.json, case realm "gw1.example.com".
	wantPorts := []uint16{30193, 4702}
	wantTags := []uint64{0x233f87331edbf805, 0xb6a6b9c792cf5eb3}
	var sent []uint16
	for _, d := range c.dsts {
		sent = append(sent, d.Port())
	}
	if !slices.Equal(res.Ports, wantPorts) || !slices.Equal(sent, wantPorts) {
		t.Errorf("result %v sent %v, want %v", res.Ports, sent, wantPorts)
	}
	if len(c.payloads) != 2 {
		t.Fatalf("%d datagrams", len(c.payloads))
	}
	for i, pl := range c.payloads {
		if len(pl) != sequence.TagSize || binary.BigEndian.Uint64(pl) != wantTags[i] {
			t.Errorf("datagram %d payload %x, want tag %016x", i, pl, wantTags[i])
		}
	}
	if _, err := (&knock.Sender{Listen: fakeListen(c, &network)}).SendTagged(context.Background(), "192.0.2.1", []uint16{1, 2}, []uint64{1}); err == nil {
		t.Error("one tag for two ports accepted")
	}
}

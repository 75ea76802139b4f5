package bpf

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

func TestLayout(t *testing.T) {
	if got := len(Sequence{}.Ports); got != MaxLen {
		t.Errorf("Sequence.Ports has %d entries, MaxLen = %d", got, MaxLen)
	}
	if got := len(FirstPort{}.Ids); got != K {
		t.Errorf("FirstPort.Ids has %d entries, K = %d", got, K)
	}
	if got := len(Progress{}.C); got != K {
		t.Errorf("Progress.C has %d entries, K = %d", got, K)
	}
	// The record is what userspace decodes from the ring buffer: pin it.
	if got := binary.Size(Record{}); got != 48 {
		t.Errorf("Record is %d bytes, want 48", got)
	}
	if got := binary.Size(Addr{}); got != 16 {
		t.Errorf("Addr is %d bytes, want 16", got)
	}
}

func TestDecodeRecord(t *testing.T) {
	want := Record{Family: FamilyV6, KeyId: 7, Window: 1 << 40, Counter: 3, SeqId: 9, Gen: 11}
	want.Addr[0], want.Addr[15] = 0xfd, 1
	raw, err := binary.Append(nil, binary.NativeEndian, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("DecodeRecord = %+v, want %+v", got, want)
	}
	if _, err := DecodeRecord(raw[:10]); err == nil {
		t.Error("DecodeRecord accepted 10 bytes")
	}
}

func TestLoad(t *testing.T) {
	needs.Root(t, "loads a BPF program")
	o, err := Load(Options{MaxSequences: 1024, MaxSources: 128})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Error(err)
		}
	})
	if o.Program.Type() != ebpf.XDP {
		t.Errorf("program type %v, want XDP", o.Program.Type())
	}
	if got := o.Sequences.MaxEntries(); got != 1024 {
		t.Errorf("sequences map has %d entries, want 1024", got)
	}
	if got := o.Sources.MaxEntries(); got != 128 {
		t.Errorf("sources map has %d entries, want 128", got)
	}
	if got := o.LocalAddrs.MaxEntries(); got != MaxLocalAddrs {
		t.Errorf("local_addrs map has %d entries, MaxLocalAddrs = %d", got, MaxLocalAddrs)
	}
	// The kernel this runs on has nf_conntrack built in or loaded with BTF
	// where the kfunc exists; say which, so a CI log shows it.
	t.Logf("conntrack reply check in the loaded program: %v", o.ConntrackReplies)
	// An empty Ethernet frame that is not IP passes.
	frame := make([]byte, 14)
	frame[12], frame[13] = 0x08, 0x06 // ARP
	ret, err := o.Program.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatal(err)
	}
	if ret != 2 { // XDP_PASS
		t.Errorf("verdict %d for a bare ARP frame, want XDP_PASS", ret)
	}
}

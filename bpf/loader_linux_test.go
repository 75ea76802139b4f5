package bpf

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

func TestLayout(t *testing.T) {
	if got := len(Sequence{}.Ports); got != MaxLen {
		t.Errorf("Sequence.Ports has %d entries, MaxLen = %d", got, MaxLen)
	}
	if got := len(Pair{}.Ids); got != K {
		t.Errorf("Pair.Ids has %d entries, K = %d", got, K)
	}
	if got := len(TagProgress{}.C); got != TK {
		t.Errorf("TagProgress.C has %d entries, TK = %d", got, TK)
	}
	if got := binary.Size(Tag{}); got != 12 {
		t.Errorf("Tag is %d bytes, want 12", got)
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
	if got := len(Settings{}.Local); got != LocalInline {
		t.Errorf("Settings.Local has %d entries, LocalInline = %d", got, LocalInline)
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
	if got := o.TagSources.MaxEntries(); got != 128 {
		t.Errorf("tag_sources map has %d entries, want 128", got)
	}
	if got, want := o.Pairs.MaxEntries(), uint32(1024); got != want {
		t.Errorf("pairs map has %d entries, want %d", got, want)
	}
	if got, want := o.Tags.MaxEntries(), uint32(2048); got != want {
		t.Errorf("tags map has %d entries, want %d (twice the slots)", got, want)
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

// TestLoadLargeMapsNotPreallocated: past PreallocLimit the pairs and tags maps allocate their
// entries as they are inserted, so a gateway sized for a million keys does not hold gigabytes of
// kernel memory for maps of a kind it may not use; below it they are preallocated.
func TestLoadLargeMapsNotPreallocated(t *testing.T) {
	needs.Root(t, "loads a BPF program")
	for _, c := range []struct {
		slots uint32
		pairs bool // NO_PREALLOC
		tags  bool
	}{
		{1024, false, false},
		{PreallocLimit/2 + 1, false, true},
		{PreallocLimit + 1, true, true},
	} {
		o, err := Load(Options{MaxSequences: c.slots, MaxSources: 128})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Pairs.Flags()&unix.BPF_F_NO_PREALLOC != 0; got != c.pairs {
			t.Errorf("%d slots: pairs map not preallocated: %v, want %v", c.slots, got, c.pairs)
		}
		if got := o.Tags.Flags()&unix.BPF_F_NO_PREALLOC != 0; got != c.tags {
			t.Errorf("%d slots: tags map (%d) not preallocated: %v, want %v", c.slots, o.Tags.MaxEntries(), got, c.tags)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

package detector

import (
	"testing"

	"github.com/hideyourports/hyp/bpf"
)

// The hooks BenchmarkXDP needs from this version of the detector (kept apart so that the same
// benchmark runs against the code before v3 tags and the reply prefilter, for comparison).

func setTags(s *Sequence, tags []uint64) { s.Tags = tags }
func seqTags(s *Sequence) []uint64       { return s.Tags }

// enablePrefilter turns the reply prefilter on with a 10-minute window, as Open does once the
// egress program has watched every interface that long.
func enablePrefilter(b *testing.B, h *harness) {
	if err := h.d.updateSettings(func(s *bpf.Settings) { s.ReplyOn = 1 }); err != nil {
		b.Fatal(err)
	}
}

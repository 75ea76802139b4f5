package detector

// main has no tags: v3 sequences are matched by their ports only.
func setTags(s *Sequence, tags []uint64) {}
func seqTags(s *Sequence) []uint64     { return nil }

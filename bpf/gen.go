// Package bpf holds the XDP knock detector program (knock.c) and the Go
// bindings bpf2go generates for it, plus a small loader. The program follows
// each source address through the loaded knock sequences in the kernel and
// drops every datagram that could be a knock, so userspace wakes only for a
// completed sequence. daemon/detector owns the loaded objects at run time.
//
// knock_bpfel.go and knock_bpfel.o are generated and committed; regenerate
// with `go generate ./bpf/` from the repository root; it needs only clang
// (the headers are in include/, so any host gives the same object). Only the little-endian target is generated so that the output
// is reproducible byte for byte.
package bpf

//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -mcpu=v3 -nostdinc -Iinclude" -type sequence -type pair -type tag -type tag_progress -type progress -type pend_bucket -type pend_seen_bits -type reply_gen_bits -type addr -type record -type settings -type stats knock knock.c

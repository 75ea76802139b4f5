package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// The XDP floors: what the kernel's run-time statistics count per packet for programs that do
// less than any knock detector can, under the very floods hypd's rows see. They say how much of
// hypd's figure is this machine's (the statistics' own clock reads, the program's call, the
// packet's first cache misses) and how much is hypd's own work.
const (
	floorDrop  = "drops every frame at once"
	floorParse = "reads the Ethernet, IPv4 and UDP headers and drops UDP"
)

// floorProgram builds one of the floors. Built from instructions, so the bench needs no clang.
func floorProgram(name string) (*ebpf.Program, error) {
	const xdpDrop, xdpPass = 1, 2
	var insns asm.Instructions
	switch name {
	case floorDrop:
		insns = asm.Instructions{asm.Mov.Imm(asm.R0, xdpDrop), asm.Return()}
	case floorParse:
		insns = asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
			asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 14+20+8),
			asm.JGT.Reg(asm.R4, asm.R3, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),   // EtherType, as it is on the wire
			asm.JNE.Imm(asm.R5, 0x0008, "pass"),         // 0x0800 read little-endian
			asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte), // IPv4 protocol
			asm.JNE.Imm(asm.R5, 17, "pass"),
			asm.LoadMem(asm.R5, asm.R2, 14+20+2, asm.Half), // UDP destination port: the header is read
			asm.Mov.Imm(asm.R0, xdpDrop),
			asm.Return(),
			asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
			asm.Return(),
		}
	default:
		return nil, fmt.Errorf("no XDP floor %q", name)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "hyp_floor", Type: ebpf.XDP, License: "MIT", Instructions: insns})
	if err != nil {
		return nil, fmt.Errorf("loading the XDP floor %q: %w", name, err)
	}
	return p, nil
}

// xdpFloors attaches each floor in turn to the gateway's interface (no hypd runs then) and
// floods it as scaleOne floods hypd: one source and spoofed, with datagrams of size bytes.
func (b *bench) xdpFloors(size int) (map[string]map[string]xdpResult, error) {
	out := map[string]map[string]xdpResult{}
	for _, name := range []string{floorDrop, floorParse} {
		prog, err := floorProgram(name)
		if err != nil {
			return nil, err
		}
		var l link.Link
		err = b.lab.Gateway.Do(func() error {
			ifc, err := net.InterfaceByName(netlab.Iface)
			if err != nil {
				return err
			}
			l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
			return err
		})
		if err != nil {
			prog.Close()
			return nil, fmt.Errorf("attaching the XDP floor %q: %w", name, err)
		}
		out[name] = map[string]xdpResult{}
		for _, f := range []struct {
			name string
			args []string
		}{{xdpOneSource, nil}, {xdpSpoofed, []string{"-spoof", spoofPrefix}}} {
			x, ferr := b.xdpFlood(prog, size, f.args)
			if ferr != nil {
				err = ferr
				break
			}
			out[name][f.name] = x
			fmt.Printf("  floor    XDP program that %-55s %-16s %.1f ns (%d packets)\n", name, f.name, x.ns, x.runs)
		}
		if cerr := errors.Join(l.Close(), prog.Close()); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

package protected

import (
	"strings"
	"testing"
)

func TestParseServices(t *testing.T) {
	got, err := ParseServices(" tcp/22, UDP/51820 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []Service{{"tcp", 22}, {"udp", 51820}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got[1].String() != "udp/51820" {
		t.Errorf("String() = %q", got[1].String())
	}
	if s, err := ParseServices(""); err != nil || s != nil {
		t.Errorf("empty list: %v, %v", s, err)
	}
}

func TestParseServicesErrorsNameTheItem(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tcp/22,icmp/1", `item 2: service "icmp/1": protocol must be tcp or udp`},
		{"tcp/0", `item 1: service "tcp/0": port must be a number 1..65535`},
		{"tcp/65536", `item 1: service "tcp/65536": port`},
		{"tcp/22,22", `item 2: service "22": want PROTO/PORT`},
		{"tcp/22,tcp/x", `item 2: service "tcp/x": port`},
		{"tcp/22,,udp/1", `item 2: service "": want PROTO/PORT`},
		{"tcp/22,TCP/22", `item 2: service "tcp/22" listed twice`},
	} {
		_, err := ParseServices(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseServices(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestServiceText(t *testing.T) {
	var s Service
	if err := s.UnmarshalText([]byte("UDP/51820")); err != nil || s != (Service{"udp", 51820}) {
		t.Fatalf("UnmarshalText: %v, %v", s, err)
	}
	if b, err := s.MarshalText(); err != nil || string(b) != "udp/51820" {
		t.Fatalf("MarshalText: %q, %v", b, err)
	}
	if err := s.UnmarshalText([]byte("tcp/0")); err == nil || s != (Service{"udp", 51820}) {
		t.Errorf("bad text: %v, and the value became %v", err, s)
	}
	if _, err := (Service{"icmp", 1}).MarshalText(); err == nil {
		t.Error("MarshalText accepted icmp")
	}
}

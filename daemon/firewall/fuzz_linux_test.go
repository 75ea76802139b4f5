package firewall

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ruleExpr is one expression of an encoded rule: its kernel name and its raw data.
type ruleExpr struct {
	name string
	data []byte
}

// encodeRule is an NFT_MSG_NEWRULE's attributes (after the nfgenmsg) as the kernel sends them in
// a dump: table, chain, handle and the expression list.
func encodeRule(tb testing.TB, handle uint64, exprs []ruleExpr) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.String(unix.NFTA_RULE_TABLE, DefaultTable)
	ae.String(unix.NFTA_RULE_CHAIN, chainInput)
	ae.Uint64(unix.NFTA_RULE_HANDLE, handle)
	ae.Nested(unix.NFTA_RULE_EXPRESSIONS, func(list *netlink.AttributeEncoder) error {
		for _, e := range exprs {
			list.Nested(unix.NFTA_LIST_ELEM, func(el *netlink.AttributeEncoder) error {
				el.String(unix.NFTA_EXPR_NAME, e.name)
				el.Bytes(unix.NFTA_EXPR_DATA|unix.NLA_F_NESTED, e.data)
				return nil
			})
		}
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// wantShape is what decodeRule must make of exprs.
func wantShape(exprs []ruleExpr) string {
	var b strings.Builder
	for _, e := range exprs {
		data := hex.EncodeToString(e.data)
		if e.name == "counter" {
			data = ""
		}
		fmt.Fprintf(&b, "%s(%s) ", e.name, data)
	}
	return b.String()
}

// builtRules are the rules this package programs, each expression marshalled by the nftables
// package as it sends them to the kernel.
func builtRules(tb testing.TB) [][]ruleExpr {
	var out [][]ruleExpr
	for _, rules := range [][][]expr.Any{inputRules(true), inputRules(false), forwardRules(true), forwardRules(false)} {
		for _, r := range rules {
			var exprs []ruleExpr
			for _, e := range r {
				data, err := expr.MarshalExprData(unix.NFPROTO_INET, e)
				if err != nil {
					tb.Fatal(err)
				}
				exprs = append(exprs, ruleExpr{exprName(e), data})
			}
			out = append(out, exprs)
		}
	}
	return out
}

// FuzzDecodeRule feeds the rule-dump decoder arbitrary attributes: it never panics, and a rule it
// reads has one shape entry per expression name.
func FuzzDecodeRule(f *testing.F) {
	for i, r := range builtRules(f) {
		b := encodeRule(f, uint64(i+1), r)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{4, 0, 4, 0})
	f.Add([]byte{8, 0, 3, 0, 1, 2, 3, 4}) // a 4-byte handle
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRule(b)
		if err != nil {
			return
		}
		if n := strings.Count(r.shape, ") "); n < len(r.names) {
			t.Fatalf("shape %q has %d entries for %d expressions %q", r.shape, n, len(r.names), r.names)
		}
		again, err := decodeRule(b)
		if err != nil || again.shape != r.shape || again.handle != r.handle || !slices.Equal(again.names, r.names) {
			t.Fatalf("decoding twice differs: %+v, %+v (%v)", r, again, err)
		}
	})
}

// fuzzNames are the expressions the kernel can report; the fuzzer picks among them by byte.
var fuzzNames = []string{"meta", "cmp", "payload", "lookup", "immediate", "ct", "bitwise", "counter", "reject", ""}

// FuzzRuleRoundTrip encodes a rule from fuzzed expressions (spec: a name byte, a length byte and
// that many bytes of data each) and decodes it: the handle, the names and the shape come back,
// so any change to an expression's data (but a counter's values) is a changed shape, which Drift
// reports.
func FuzzRuleRoundTrip(f *testing.F) {
	for i, r := range builtRules(f) {
		var spec []byte
		for _, e := range r {
			spec = append(spec, byte(slices.Index(fuzzNames, e.name)), byte(len(e.data)))
			spec = append(spec, e.data...)
		}
		f.Add(uint64(i+1), spec)
	}
	f.Add(uint64(0), []byte{7, 3, 1, 2, 3, 7, 0})
	f.Fuzz(func(t *testing.T, handle uint64, spec []byte) {
		var exprs []ruleExpr
		for len(spec) >= 2 {
			name := fuzzNames[int(spec[0])%len(fuzzNames)]
			n := min(int(spec[1]), len(spec)-2)
			exprs = append(exprs, ruleExpr{name, spec[2 : 2+n]})
			spec = spec[2+n:]
		}
		r, err := decodeRule(encodeRule(t, handle, exprs))
		if err != nil {
			t.Fatalf("decoding %+v: %v", exprs, err)
		}
		names := make([]string, len(exprs))
		for i, e := range exprs {
			names[i] = e.name
		}
		if r.handle != handle || !slices.Equal(r.names, names) || r.shape != wantShape(exprs) {
			t.Fatalf("round trip of handle %d %+v gave %+v, want shape %q", handle, exprs, r, wantShape(exprs))
		}
	})
}

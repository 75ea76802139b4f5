//go:build linux

package firewall

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The nftables package (v0.3.0) cannot read back a `ct original proto-dst` expression (it wants
// a 32-bit direction where the kernel reports 8 bits), so GetRules fails on the forward chain.
// Checking the rules for drift needs only each expression's name and raw data, which this reads
// with a dump of its own.

// ruleDump is one rule as the kernel reports it: its expressions' names and, for each, the data
// that decides what it does (a counter's values change all the time and are left out).
type ruleDump struct {
	handle uint64
	names  []string
	shape  string
}

// dumpRules lists the rules of chain in the table, in order, on the raw netlink connection.
func dumpRules(c *netlink.Conn, table, chain string) ([]ruleDump, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_RULE_TABLE, table)
	ae.String(unix.NFTA_RULE_CHAIN, chain)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		// nfgenmsg: family, version, resource id.
		Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	msgs, err := c.Execute(req)
	if err != nil {
		return nil, fmt.Errorf("dumping rules of chain %s: %w", chain, err)
	}
	var out []ruleDump
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		r, err := decodeRule(m.Data[4:])
		if err != nil {
			return nil, fmt.Errorf("dumping rules of chain %s: %w", chain, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func decodeRule(b []byte) (ruleDump, error) {
	var r ruleDump
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return r, err
	}
	ad.ByteOrder = binary.BigEndian
	var shape strings.Builder
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_HANDLE:
			r.handle = ad.Uint64()
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				for list.Next() {
					if list.Type() != unix.NFTA_LIST_ELEM {
						continue
					}
					list.Nested(func(e *netlink.AttributeDecoder) error {
						var name, data string
						for e.Next() {
							switch e.Type() {
							case unix.NFTA_EXPR_NAME:
								name = e.String()
							case unix.NFTA_EXPR_DATA:
								data = hex.EncodeToString(e.Bytes())
							}
						}
						r.names = append(r.names, name)
						if name == "counter" {
							data = ""
						}
						fmt.Fprintf(&shape, "%s(%s) ", name, data)
						return nil
					})
				}
				return nil
			})
		}
	}
	r.shape = shape.String()
	return r, ad.Err()
}

// exprName is the kernel's name of an expression this package builds.
func exprName(e expr.Any) string {
	switch e.(type) {
	case *expr.Meta:
		return "meta"
	case *expr.Cmp:
		return "cmp"
	case *expr.Payload:
		return "payload"
	case *expr.Lookup:
		return "lookup"
	case *expr.Verdict:
		return "immediate"
	case *expr.Ct:
		return "ct"
	case *expr.Bitwise:
		return "bitwise"
	case *expr.Counter:
		return "counter"
	case *expr.Reject:
		return "reject"
	case *expr.Hash:
		return "hash"
	case *expr.Byteorder:
		return "byteorder"
	case *expr.Fib:
		return "fib"
	case *expr.Exthdr:
		return "exthdr"
	case *expr.Socket:
		return "socket"
	}
	return fmt.Sprintf("%T", e)
}

package firewall

import (
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// Firewall owns the netlink connection to one namespace's nftables and the
// table named in its Config.
type Firewall struct {
	cfg    Config
	table  *nftables.Table
	allow4 *nftables.Set
	allow6 *nftables.Set

	// mu guards conn: nftables.Conn buffers batch messages per connection
	// and a lasting connection shares one socket, so two operations must
	// not interleave their messages or their replies.
	mu     sync.Mutex
	conn   *nftables.Conn
	closed bool
	// raw reads rules back for Drift (see dumpRules); nil with a test dialer. Guarded by mu.
	raw *netlink.Conn
	// golden holds, per chain, the shape of each rule as the kernel reported it right after
	// reconcile built it: Drift compares against this. Guarded by mu.
	golden map[string][]string
	// checks counts drift checks (see Checks); atomic, so reading it never waits for mu.
	checks atomic.Uint64
	// labels: how the kernel labels IPv6 flows in this namespace, for the output chain. Set by
	// open before the Firewall is shared; read-only after.
	labels flowLabels
	// renewInPlace: the kernel resets the timeout of an element added again (Linux 6.10 and
	// later), so Allow is one message. Set by open before the Firewall is shared; read-only after.
	renewInPlace bool
}

// Open connects to nftables in cfg.NetNS and makes the table match cfg in
// one atomic batch: it creates what is missing and rebuilds the chains and
// the protected/public sets, but keeps allow4/allow6 and their elements, so
// a restarted hypd leaves existing grants to expire on time.
func Open(cfg Config) (*Firewall, error) {
	return open(cfg, nil)
}

// open is Open with an optional test dialer (nftables.WithTestDial).
func open(cfg Config, dial nltest.Func) (*Firewall, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if dial != nil {
		opts = append(opts, nftables.WithTestDial(dial))
	} else if cfg.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("opening nftables netlink connection: %w", err)
	}
	f := &Firewall{
		cfg:   cfg,
		conn:  conn,
		table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet},
	}
	f.allow4 = f.allowSet(false)
	f.allow6 = f.allowSet(true)
	if dial == nil {
		f.raw, err = netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: cfg.NetNS})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("opening nftables netlink connection: %w", err), conn.CloseLasting())
		}
	}
	if dial == nil {
		if f.labels, err = readFlowLabels(cfg.NetNS); err != nil {
			return nil, errors.Join(fmt.Errorf("setting up nftables table inet %s: %w", cfg.Table, err), f.closeConns())
		}
	}
	if err := f.reconcile(); err != nil {
		return nil, errors.Join(fmt.Errorf("setting up nftables table inet %s: %w", cfg.Table, err), f.closeConns())
	}
	if dial == nil {
		if f.renewInPlace, err = f.probeRenewInPlace(); err != nil {
			return nil, errors.Join(fmt.Errorf("setting up nftables table inet %s: %w", cfg.Table, err), f.closeConns())
		}
	}
	return f, nil
}

// probeKey is the allow4 element probeRenewInPlace uses: 0.0.0.0 . tcp . 0, a grant no packet
// can use (no TCP segment goes to port 0, and input never sees 0.0.0.0 as a TCP source).
func probeKey() []byte { return []byte{0, 0, 0, 0, protoTCP, 0, 0, 0, 0, 0, 0, 0} }

// probeRenewInPlace finds out whether adding an existing grant again gives it the new timeout
// (Linux 6.10 and later: "set element timeout update"), or keeps the old one: it adds a probe
// element with a short timeout, adds it again with a long one, reads back the time it has left,
// and deletes it.
func (f *Firewall) probeRenewInPlace() (bool, error) {
	const short, long = 10 * time.Second, time.Hour
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conn
	key := probeKey()
	for _, ttl := range []time.Duration{short, long} {
		if err := c.SetAddElements(f.allow4, []nftables.SetElement{{Key: key, Timeout: ttl}}); err != nil {
			return false, fmt.Errorf("probing grant renewal: %w", err)
		}
		if err := c.Flush(); err != nil {
			return false, fmt.Errorf("probing grant renewal: %w", err)
		}
	}
	elems, err := c.GetSetElements(f.allow4)
	if err != nil {
		return false, fmt.Errorf("probing grant renewal: listing set %s: %w", f.allow4.Name, err)
	}
	renewed := false
	for _, e := range elems {
		if slices.Equal(e.Key, key) {
			renewed = e.Expires > short
		}
	}
	if err := c.SetDeleteElements(f.allow4, []nftables.SetElement{{Key: key}}); err != nil {
		return false, fmt.Errorf("probing grant renewal: %w", err)
	}
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("probing grant renewal: deleting the probe: %w", err)
	}
	return renewed, nil
}

// Set IDs only matter inside the batch that creates the set (a rule or
// element refers to a set by name first, by ID when it is new). Giving our
// own keeps the nftables package from touching its unsynchronized global
// ID counter.
const (
	idAllow4 = iota + 1
	idAllow6
	idProtected
	idPublic
)

func (f *Firewall) allowSet(v6 bool) *nftables.Set {
	s := &nftables.Set{
		Table:         f.table,
		ID:            idAllow4,
		Name:          setAllow4,
		KeyType:       allowKeyType(v6),
		HasTimeout:    true,
		Concatenation: true,
	}
	if v6 {
		s.ID, s.Name = idAllow6, setAllow6
	}
	return s
}

func (f *Firewall) serviceSet(name string) *nftables.Set {
	id := uint32(idProtected)
	if name == setPublic {
		id = idPublic
	}
	return &nftables.Set{
		Table:         f.table,
		ID:            id,
		Name:          name,
		KeyType:       serviceKeyType(),
		Concatenation: true,
	}
}

func (f *Firewall) chain(name string) *nftables.Chain {
	hook := nftables.ChainHookInput
	switch name {
	case chainForward:
		hook = nftables.ChainHookForward
	case chainOutput:
		hook = nftables.ChainHookOutput
	}
	prio := chainPriority
	policy := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     name,
		Table:    f.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  hook,
		Priority: &prio,
		Policy:   &policy,
	}
}

// chainNames lists the chains of the table, in the order reconcile fills them.
func chainNames() []string { return []string{chainInput, chainForward, chainOutput} }

// rulesLocked returns the rules chain name must hold for the current config. f.mu must be held.
func (f *Firewall) rulesLocked(name string) [][]expr.Any {
	switch name {
	case chainInput:
		return inputRules(f.cfg.Stealth)
	case chainForward:
		return forwardRules(f.cfg.Stealth)
	}
	return outputRules(f.cfg.Stealth, f.labels)
}

// sameSet reports whether an existing set can be kept for want.
func sameSet(have, want *nftables.Set) bool {
	return have.KeyType.Name == want.KeyType.Name &&
		have.KeyType.Bytes == want.KeyType.Bytes &&
		have.HasTimeout == want.HasTimeout &&
		!have.Interval && !have.IsMap && !have.Constant
}

// sameChain reports whether an existing chain can be flushed and refilled;
// hook, priority and type of a base chain cannot be changed in place.
func sameChain(have, want *nftables.Chain) bool {
	return have.Hooknum != nil && have.Priority != nil &&
		*have.Hooknum == *want.Hooknum && *have.Priority == *want.Priority &&
		have.Type == want.Type
}

// reconcile builds the whole table in one batch, so the kernel switches
// from the old rules to the new ones atomically: there is no moment with
// the protected services open, nor one with the chains half built.
func (f *Firewall) reconcile() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conn

	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("listing tables: %w", err)
	}
	exists := slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == f.table.Name })

	haveSets := map[string]*nftables.Set{}
	var haveChains []*nftables.Chain
	if exists {
		sets, err := c.GetSets(f.table)
		if err != nil {
			return fmt.Errorf("listing sets: %w", err)
		}
		for _, s := range sets {
			haveSets[s.Name] = s
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			return fmt.Errorf("listing chains: %w", err)
		}
		for _, ch := range chains {
			if ch.Table != nil && ch.Table.Name == f.table.Name {
				haveChains = append(haveChains, ch)
			}
		}
	}

	c.AddTable(f.table) // NLM_F_CREATE without EXCL: no-op when it exists

	// Chains first: deleting or flushing them drops their references to
	// sets we may have to replace below.
	want := map[string]*nftables.Chain{}
	for _, name := range chainNames() {
		want[name] = f.chain(name)
	}
	keep := map[string]bool{}
	for _, have := range haveChains {
		if w, ok := want[have.Name]; ok && sameChain(have, w) {
			c.FlushChain(w)
			keep[have.Name] = true
			continue
		}
		c.DelChain(&nftables.Chain{Name: have.Name, Table: f.table})
	}

	wantSets := []*nftables.Set{f.allow4, f.allow6, f.serviceSet(setProtected), f.serviceSet(setPublic)}
	wantNames := map[string]bool{}
	for _, s := range wantSets {
		wantNames[s.Name] = true
	}
	for name := range haveSets {
		if !wantNames[name] {
			c.DelSet(&nftables.Set{Name: name, Table: f.table})
		}
	}
	for _, s := range wantSets {
		if have, ok := haveSets[s.Name]; ok {
			if sameSet(have, s) {
				if s.Name == setProtected || s.Name == setPublic {
					c.FlushSet(s)
				}
				continue
			}
			c.DelSet(s)
		}
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("adding set %s: %w", s.Name, err)
		}
	}
	for _, x := range []struct {
		set  string
		svcs []protected.Service
	}{{setProtected, f.cfg.Protected}, {setPublic, f.cfg.Public}} {
		if len(x.svcs) == 0 {
			continue
		}
		elems := make([]nftables.SetElement, 0, len(x.svcs))
		for _, s := range x.svcs {
			k, err := serviceKey(s)
			if err != nil {
				return err
			}
			elems = append(elems, nftables.SetElement{Key: k})
		}
		if err := c.SetAddElements(f.serviceSet(x.set), elems); err != nil {
			return fmt.Errorf("adding elements to set %s: %w", x.set, err)
		}
	}

	for _, name := range chainNames() {
		ch := want[name]
		// Also for a kept chain: adding it again restores a policy someone changed.
		c.AddChain(ch)
		for _, r := range f.rulesLocked(name) {
			c.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: r})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("applying batch: %w", err)
	}
	return f.recordGoldenLocked(want)
}

// recordGoldenLocked reads back the rules reconcile just wrote, as Drift will see them. Their
// kinds are checked against what was built, so a change slipped in between the batch and the
// read is not taken for ours.
func (f *Firewall) recordGoldenLocked(chains map[string]*nftables.Chain) error {
	if f.raw == nil {
		return nil
	}
	golden := map[string][]string{}
	for name := range chains {
		rules, err := dumpRules(f.raw, f.table.Name, name)
		if err != nil {
			return err
		}
		want := f.rulesLocked(name)
		if len(rules) != len(want) {
			return fmt.Errorf("chain %s changed while it was built: %d rules, want %d", name, len(rules), len(want))
		}
		for i, r := range rules {
			names := make([]string, len(want[i]))
			for j, e := range want[i] {
				names[j] = exprName(e)
			}
			if !slices.Equal(r.names, names) {
				return fmt.Errorf("chain %s changed while it was built: rule %d is %v, want %v", name, i+1, r.names, names)
			}
			golden[name] = append(golden[name], r.shape)
		}
	}
	f.golden = golden
	return nil
}

// grantElems returns the allow4 and allow6 elements for addr and svcs.
func grantElems(addr netip.Addr, svcs []protected.Service, ttl time.Duration, key string) (netip.Addr, []nftables.SetElement, error) {
	if !addr.IsValid() {
		return addr, nil, errors.New("address: not set")
	}
	// A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d, but the
	// packet that reaches netfilter is plain IPv4; a zone never is part
	// of a packet.
	addr = addr.Unmap().WithZone("")
	elems := make([]nftables.SetElement, 0, len(svcs))
	for _, s := range svcs {
		if err := s.Validate(); err != nil {
			return addr, nil, err
		}
		k, err := grantKey(addr, s)
		if err != nil {
			return addr, nil, err
		}
		elems = append(elems, nftables.SetElement{Key: k, Timeout: ttl, Comment: key})
	}
	return addr, elems, nil
}

// Allow opens svcs to addr for ttl, or renews an existing grant to ttl from now.
//
// Kernels since 6.10 update the timeout of an existing element on a plain add
// (open probes for it), so there a grant is one message. Older ones keep the
// old timeout; there renewal is add, delete, add in one batch: the first add
// makes sure the element exists (so the delete cannot fail), the delete and
// second add reset its timeout. Either way the element is never absent from
// the point of view of packets.
//
// Key names the key that granted; it is the elements' comment, so Grants (and `nft list`) show it.
// A renewal in place keeps an element's comment: a grant renewed by another key still names the
// key that opened it (with add, delete, add it names the last).
func (f *Firewall) Allow(addr netip.Addr, svcs []protected.Service, ttl time.Duration, key string) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("allowing %s: ttl %v: must be at least 1ms", addr, ttl)
	}
	if len(svcs) == 0 {
		return fmt.Errorf("allowing %s: no services", addr)
	}
	addr, elems, err := grantElems(addr, svcs, ttl, key)
	if err != nil {
		return fmt.Errorf("allowing %s: %w", addr, err)
	}
	set := f.allow4
	if addr.Is6() {
		set = f.allow6
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("allowing %s: firewall closed", addr)
	}
	if f.renewInPlace {
		if err := f.conn.SetAddElements(set, elems); err != nil {
			return fmt.Errorf("allowing %s: %w", addr, err)
		}
		if err := f.conn.Flush(); err != nil {
			return fmt.Errorf("allowing %s: %w", addr, err)
		}
		return nil
	}
	var last error
	// The one way this batch can fail on its own is an element that expired
	// but was not yet collected when the first add ran: then the add is a
	// no-op and the delete finds nothing. Trying again settles it.
	for range 3 {
		if err := errors.Join(
			f.conn.SetAddElements(set, elems),
			f.conn.SetDeleteElements(set, elems),
			f.conn.SetAddElements(set, elems),
		); err != nil {
			return fmt.Errorf("allowing %s: %w", addr, err)
		}
		last = f.conn.Flush()
		if last == nil || !errors.Is(last, unix.ENOENT) {
			break
		}
	}
	if last != nil {
		return fmt.Errorf("allowing %s: %w", addr, last)
	}
	return nil
}

// Revoke removes every grant of addr at once and returns how many (services) it removed.
func (f *Firewall) Revoke(addr netip.Addr) (int, error) {
	if !addr.IsValid() {
		return 0, errors.New("revoking: address not set")
	}
	addr = addr.Unmap().WithZone("")
	set := f.allow4
	if addr.Is6() {
		set = f.allow6
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, fmt.Errorf("revoking %s: firewall closed", addr)
	}
	var last error
	// An element can expire between listing and deleting it, which fails
	// the whole batch with ENOENT; list again and retry.
	for range 3 {
		elems, err := f.conn.GetSetElements(set)
		if err != nil {
			return 0, fmt.Errorf("revoking %s: listing set %s: %w", addr, set.Name, err)
		}
		var del []nftables.SetElement
		for _, e := range elems {
			a, _, err := parseGrantKey(e.Key, addr.Is6())
			if err == nil && a == addr {
				del = append(del, nftables.SetElement{Key: e.Key})
			}
		}
		if len(del) == 0 {
			return 0, nil
		}
		if err := f.conn.SetDeleteElements(set, del); err != nil {
			return 0, fmt.Errorf("revoking %s: %w", addr, err)
		}
		last = f.conn.Flush()
		if last == nil {
			return len(del), nil
		}
		if !errors.Is(last, unix.ENOENT) {
			break
		}
	}
	return 0, fmt.Errorf("revoking %s: %w", addr, last)
}

// Grants lists the open grants with the time each has left, IPv4 first,
// then by address and service.
func (f *Firewall) Grants() ([]Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errors.New("listing grants: firewall closed")
	}
	var out []Grant
	for _, set := range []*nftables.Set{f.allow4, f.allow6} {
		elems, err := f.conn.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("listing grants in set %s: %w", set.Name, err)
		}
		for _, e := range elems {
			a, s, err := parseGrantKey(e.Key, set == f.allow6)
			if err != nil {
				return nil, fmt.Errorf("listing grants in set %s: %w", set.Name, err)
			}
			out = append(out, Grant{Addr: a, Service: s, Expires: e.Expires, Key: e.Comment})
		}
	}
	slices.SortFunc(out, func(a, b Grant) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		if a.Service.Proto != b.Service.Proto {
			if a.Service.Proto < b.Service.Proto {
				return -1
			}
			return 1
		}
		return int(a.Service.Port) - int(b.Service.Port)
	})
	return out, nil
}

// Close releases the netlink connection. The table and its grants stay:
// if hypd stops, protected services stay closed and grants expire on time.
func (f *Firewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	return f.closeConns()
}

func (f *Firewall) closeConns() error {
	var errs []error
	if f.raw != nil {
		if err := f.raw.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing nftables netlink connection: %w", err))
		}
	}
	if err := f.conn.CloseLasting(); err != nil {
		errs = append(errs, fmt.Errorf("closing nftables connection: %w", err))
	}
	return errors.Join(errs...)
}

// Cleanup deletes table (empty means DefaultTable) from the inet family in
// the namespace netnsFD (0 = current), and nothing else. A missing table is
// not an error, so uninstall scripts can run it twice.
func Cleanup(table string, netnsFD int) error {
	cfg, err := Config{Table: table, NetNS: netnsFD}.normalize()
	if err != nil {
		return err
	}
	var opts []nftables.ConnOption
	if cfg.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("opening nftables netlink connection: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("removing table inet %s: listing tables: %w", cfg.Table, err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == cfg.Table }) {
		return nil
	}
	c.DelTable(&nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("removing table inet %s: %w", cfg.Table, err)
	}
	return nil
}

// Reconfigure makes the table match new protected and public services and stealth setting (a key
// file that names its own services was added or removed), in one atomic batch that keeps the
// grants, as Open does. The table name and namespace stay those Open was given.
func (f *Firewall) Reconfigure(hidden, public []protected.Service, stealth bool) error {
	f.mu.Lock()
	cfg := f.cfg
	f.mu.Unlock()
	cfg.Protected, cfg.Public, cfg.Stealth = hidden, public, stealth
	cfg, err := cfg.normalize()
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return errors.New("reconfiguring: firewall closed")
	}
	f.cfg = cfg
	f.mu.Unlock()
	if err := f.reconcile(); err != nil {
		return fmt.Errorf("reconfiguring nftables table inet %s: %w", cfg.Table, err)
	}
	return nil
}

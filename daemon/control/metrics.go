package control

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteMetrics renders st in the Prometheus text exposition format (version 0.0.4). It is built
// from the same Status that `hypd status` shows, so the two can never disagree; no client
// library is needed for a handful of counters and gauges.
func WriteMetrics(w io.Writer, st Status) error {
	var b strings.Builder
	metric := func(name, typ, help string, v uint64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	d, s := st.Detector, st.Server
	// Never the progress counters (d.Progress: hits, resets, first-port overflows): they move
	// with every datagram that starts or advances a sequence, so a reader of this page could
	// find a sequence's ports one by one without the key. Everything here moves alike for every
	// knock-sized datagram or only with a completed sequence (docs/protocol.md, security).
	metric("hyp_knock_datagrams_seen_total", "counter", "UDP datagrams the XDP program judged as possible knocks (all dropped).", d.Seen)
	metric("hyp_knock_completions_total", "counter", "Knock sequences completed in the kernel and reported to hypd.", d.Completions)
	metric("hyp_knock_ringbuf_drops_total", "counter", "Completed sequences lost because the ring buffer was full.", d.RingbufDrops)
	metric("hyp_knock_stale_records_total", "counter", "Completions discarded because their sequence was removed or replaced before they were read.", d.StaleRecords)
	metric("hyp_knock_replays_unreported_total", "counter", "Replays of a spent sequence the kernel did not report, within a second of one it did.", d.ReplaysUnreported)
	metric("hyp_records_handled_total", "counter", "Completed knocks hypd decided on (grants + every refusal + errors).", s.HandledRecords)
	metric("hyp_grants_total", "counter", "Knocks that opened the protected services.", s.Grants)
	metric("hyp_replays_refused_total", "counter", "Completed knocks refused because their sequence was spent (replays reported by the kernel).", s.ReplaysRefused)
	metric("hyp_stale_refused_total", "counter", "Completed knocks refused because their time window had passed.", s.StaleRefused)
	metric("hyp_unknown_key_refused_total", "counter", "Completed knocks of a key no longer loaded.", s.UnknownKey)
	metric("hyp_grant_errors_total", "counter", "Completed knocks that could not be granted (state not written, nftables error).", s.GrantErrors)
	metric("hyp_table_repairs_total", "counter", "Times the nftables table was changed from outside and rebuilt.", st.TableRepairs)
	metric("hyp_sequences_loaded", "gauge", "Knock sequences loaded into the kernel.", uint64(s.SequencesLoaded))
	metric("hyp_sequences_left_out", "gauge", "Acceptable sequences the last refresh could not load for want of detector slots.", uint64(s.SequencesLeftOut))
	metric("hyp_keys_loaded", "gauge", "Keys loaded.", uint64(len(st.Keys)))
	metric("hyp_key_files_failed", "gauge", "Key files in the keys directory that did not load.", uint64(len(st.KeyProblems)))
	metric("hyp_grants_open", "gauge", "Open grants (source address and service).", uint64(len(st.Grants)))
	metric("hyp_protected_services", "gauge", "Services the table hides.", uint64(len(st.Protected)))
	failed := uint64(0)
	if st.ConfigProblem != "" {
		failed = 1
	}
	metric("hyp_config_reload_refused", "gauge", "1 while the last configuration reload was refused.", failed)

	names := make([]string, 0, len(st.Interfaces))
	for n := range st.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	b.WriteString("# HELP hyp_interface_attached 1 when the knock detector is attached to the interface, by mode.\n# TYPE hyp_interface_attached gauge\n")
	for _, n := range names {
		mode := st.Interfaces[n]
		v := 0
		if mode == "native" || mode == "generic" {
			v = 1
		}
		fmt.Fprintf(&b, "hyp_interface_attached{interface=%q,mode=%q} %d\n", n, mode, v)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

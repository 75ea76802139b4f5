package control_test

import (
	"strings"
	"testing"

	"github.com/hideyourports/hyp/daemon/control"
)

func TestWriteMetrics(t *testing.T) {
	st := sampleStatus()
	st.TableRepairs = 3
	st.Interfaces["wan0"] = "missing"
	var b strings.Builder
	if err := control.WriteMetrics(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# TYPE hyp_grants_total counter\nhyp_grants_total 1\n",
		"hyp_replays_refused_total 2\n",
		"hyp_knock_datagrams_seen_total 10\n",
		"hyp_table_repairs_total 3\n",
		"hyp_keys_loaded 1\n",
		"hyp_key_files_failed 1\n",
		"hyp_protected_services 2\n",
		"hyp_grants_open 1\n",
		`hyp_interface_attached{interface="eth0",mode="native"} 1` + "\n",
		`hyp_interface_attached{interface="wan0",mode="missing"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	// Every sample line is NAME[{labels}] VALUE, and every metric has HELP and TYPE.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		if f := strings.Fields(line); len(f) != 2 || !strings.HasPrefix(f[0], "hyp_") {
			t.Errorf("malformed sample line %q", line)
		}
	}
}

package cli_test

import (
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
)

// The knock-parameter flags follow sequence.Fields.Apply's rules, and their
// errors name the flag.
func TestParamFlagErrors(t *testing.T) {
	key := keyFile(t, secret)
	uri := "hyp://192.0.2.1?secret=" + secret
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"realm without v3", []string{"sequence", uri, "--realm", "office"}, "--realm: needs scheme v3 (the scheme is v2)"},
		{"realm with hyp", []string{"sequence", uri, "--scheme", "hyp", "--realm", "office"}, "--realm: needs scheme v3 (the scheme is hyp)"},
		{"realm with a control character", []string{"sequence", uri, "--scheme", "v3", "--realm", "a\tb"}, "--realm: realm has a control character at byte 1"},
		{"unknown scheme", []string{"sequence", "192.0.2.1", "--secret", key, "--scheme", "v9"}, `--scheme: unknown scheme "v9" (want v2, v3 or hyp)`},
		{"profile add unknown scheme", []string{"profile", "add", "gw", uri, "--scheme", "v9"}, `--scheme: unknown scheme "v9" (want v2, v3 or hyp)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, _ := storeEnv(t, nil)
			code, _, stderr := run(t, env, c.args...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d stderr %q, want 2 and %q", code, stderr, c.want)
			}
		})
	}
	// A realm given with v3 is taken.
	var env cli.Env
	code, out, stderr := run(t, &env, "sequence", uri, "--scheme", "v3", "--realm", "office")
	if code != 0 || out == "" {
		t.Errorf("v3 with a realm: exit %d, out %q, stderr %q", code, out, stderr)
	}
}

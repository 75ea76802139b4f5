package profiles_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/sequence"
)

// A hand-edited profile's knock settings are read with sequence.Fields.Apply,
// so they obey the rules of URIs and key files and the error names the field.
func TestStoredKnockFields(t *testing.T) {
	const head = "version = 1\n[[profile]]\nname = \"a\"\nhost = \"h\"\n"
	for _, tc := range []struct {
		name, fields string
		want         sequence.Params
		err          string
	}{
		{"defaults", "scheme = \"v2\"\n", sequence.Defaults(), ""},
		{"left out means the scheme's default", "scheme = \"v3\"\nlength = 0\nstep = 0\nlow = 0\nhigh = 0\n", sequence.V3Defaults(""), ""},
		{"hyp keeps its fixed range", "scheme = \"hyp\"\nlength = 4\nstep = 30\nlow = 2000\nhigh = 3000\n", sequence.HypDefaults(), ""},
		{"v3 realm", "scheme = \"v3\"\nrealm = \"office\"\nlength = 8\n", func() sequence.Params { p := sequence.V3Defaults("office"); p.Length = 8; return p }(), ""},
		{"length", "scheme = \"v2\"\nlength = 40\n", sequence.Params{}, `profile "a": length: must be 2..32, got 40`},
		{"v3 length", "scheme = \"v3\"\nlength = 9\n", sequence.Params{}, `profile "a": length: must be 1..8 for scheme v3, got 9`},
		{"hyp step", "scheme = \"hyp\"\nstep = 60\n", sequence.Params{}, `profile "a": step: must be 30 for scheme hyp, got 60`},
		{"realm needs v3", "scheme = \"v2\"\nrealm = \"office\"\n", sequence.Params{}, `profile "a": realm: needs scheme v3 (the scheme is v2)`},
		{"high below low", "scheme = \"v2\"\nlow = 5000\nhigh = 4000\n", sequence.Params{}, `profile "a": high: must not be below low (5000), got 4000`},
		{"port out of range", "scheme = \"v2\"\nlow = 1\nhigh = 70000\n", sequence.Params{}, `profile "a": high: must be a port 1..65535, got 70000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, profiles.FileName), []byte(head+tc.fields), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := profiles.Open(profiles.Options{Dir: dir, Secrets: profiles.NewMemory()})
			if err != nil {
				t.Fatal(err)
			}
			list, err := s.List()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("List: %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(list) != 1 {
				t.Fatalf("List: %v, %v", list, err)
			}
			if list[0].Params != tc.want {
				t.Errorf("Params = %+v, want %+v", list[0].Params, tc.want)
			}
		})
	}
}

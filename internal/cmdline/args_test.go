package cmdline

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		sec  string
		gap  int
	}{
		{[]string{"host", "--secret", "f", "--gap", "3"}, []string{"host"}, "f", 3},
		{[]string{"--secret=f", "host", "-gap=3"}, []string{"host"}, "f", 3},
		{[]string{"-", "--secret", "f"}, []string{"-"}, "f", 0},
		{[]string{"a", "b", "--gap", "1", "c"}, []string{"a", "b", "c"}, "", 1},
		{[]string{"--gap", "1", "--", "--secret", "x"}, []string{"--secret", "x"}, "", 1},
		{[]string{"a", "--", "-b"}, []string{"a", "-b"}, "", 0},
		{nil, nil, "", 0},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		sec := fs.String("secret", "", "")
		gap := fs.Int("gap", 0, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *sec != tc.sec || *gap != tc.gap {
			t.Errorf("%q: pos %q secret %q gap %d err %v", tc.args, pos, *sec, *gap, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"host", "--nope"}); err == nil {
		t.Error("unknown flag after the target accepted")
	}
}

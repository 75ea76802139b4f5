package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/internal/cmdline"
)

// The man page and the completions the packages install are generated from the command table;
// they must be what the table gives now (regenerate with `make cli-docs`).
func TestPackagedDocsMatchTheCommandTable(t *testing.T) {
	for file, args := range map[string][]string{
		"hyp.1":                {"man"},
		"completions/hyp.bash": {"completion", "bash"},
		"completions/_hyp":     {"completion", "zsh"},
		"completions/hyp.fish": {"completion", "fish"},
	} {
		code, out, errOut := run(t, &cli.Env{}, args...)
		if code != 0 {
			t.Fatalf("hyp %v: exit %d: %s", args, code, errOut)
		}
		have, err := os.ReadFile(filepath.Join("..", "..", "packaging", file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, []byte(out)) {
			t.Errorf("packaging/%s differs from `hyp %v`: run make cli-docs", file, args)
		}
	}
}

// hyp's bash completion, run by bash: "profile" once, sub-verbs, flags, flag values.
func TestBashCompletionOfHyp(t *testing.T) {
	code, script, errOut := run(t, &cli.Env{}, "completion", "bash")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key.txt"), nil, 0o600)
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"hyp", "pro"}, []string{"profile"}},
		{[]string{"hyp", "profile", ""}, []string{"add", "export", "list", "remove", "show"}},
		{[]string{"hyp", "helper", "st"}, []string{"start", "status", "stop"}},
		{[]string{"hyp", "knock", "--sec"}, []string{"--secret"}},
		{[]string{"hyp", "knock", "gw", "--secret", "ke"}, []string{"key.txt"}},
		{[]string{"hyp", "knock", "--scheme", ""}, []string{"hyp", "v2", "v3"}},
		{[]string{"hyp", "knock", "--check", ""}, nil},
	} {
		got, err := cmdline.BashComplete(dir, script, c.words...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.words, got, c.want)
		}
	}
}

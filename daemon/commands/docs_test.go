package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hideyourports/hyp/internal/cmdline"
)

// The man page and the completions the packages install are generated from the command table;
// they must be what the table gives now (regenerate with `make cli-docs`).
func TestPackagedDocsMatchTheCommandTable(t *testing.T) {
	for file, args := range map[string][]string{
		"hypd.8":                {"man"},
		"completions/hypd.bash": {"completion", "bash"},
		"completions/_hypd":     {"completion", "zsh"},
		"completions/hypd.fish": {"completion", "fish"},
	} {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), "test", args, nil, &out, &errb); code != 0 {
			t.Fatalf("hypd %v: exit %d: %s", args, code, errb.String())
		}
		have, err := os.ReadFile(filepath.Join("..", "..", "packaging", file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, out.Bytes()) {
			t.Errorf("packaging/%s differs from `hypd %v`: run make cli-docs", file, args)
		}
	}
}

// hypd's bash completion, run by bash: verbs, group verbs, flags, flag values.
func TestBashCompletionOfHypd(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Run(context.Background(), "test", []string{"completion", "bash"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hypd.toml"), nil, 0o600)
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"hypd", "se"}, []string{"secret", "service-status", "service-unit"}},
		{[]string{"hypd", "secret", ""}, []string{"new"}},
		{[]string{"hypd", "config", ""}, []string{"default"}},
		{[]string{"hypd", "secret", "new", "laptop", "--k"}, []string{"--keys"}},
		{[]string{"hypd", "run", "--co"}, []string{"--config"}},
		{[]string{"hypd", "run", "--so"}, []string{"--socket"}},
		{[]string{"hypd", "run", "--config", "hy"}, []string{"hypd.toml"}},
		{[]string{"hypd", "run", "--log-level", ""}, []string{"debug", "error", "info", "warn"}},
		{[]string{"hypd", "cleanup", "-"}, []string{"--help", "--stop"}},
		{[]string{"hypd", "unprotect", "--"}, []string{"--help", "--socket"}},
		{[]string{"hypd", "completion", "z"}, []string{"zsh"}},
	} {
		got, err := cmdline.BashComplete(dir, out.String(), c.words...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.words, got, c.want)
		}
	}
}

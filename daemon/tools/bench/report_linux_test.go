package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestKeptSection: a run keeps the hand-written before-and-after section of the file it
// replaces, whole, and nothing else.
func TestKeptSection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bench.md")
	for _, tc := range []struct{ name, file, want string }{
		{"middle", "# t\n\n## Results\nx\n\n## Before and after\n\n| a | b |\n\n## Notes\n- n\n", "## Before and after\n\n| a | b |\n"},
		{"last", "# t\n\n## Before and after\nkept\nlines\n", "## Before and after\nkept\nlines\n"},
		{"none", "# t\n\n## Results\nx\n", ""},
	} {
		if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := keptSection(path, beforeAfter); got != tc.want {
			t.Errorf("%s: kept %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := keptSection(filepath.Join(dir, "missing.md"), beforeAfter); got != "" {
		t.Errorf("missing file: kept %q", got)
	}
}

package cmdline

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Issue 21 item 4: help lists completion and man; help COMPLETION and completion --help answer
// with exit 0; a hidden flag is accepted but not listed.
func TestBuiltinsAreListedAndHaveHelp(t *testing.T) {
	code, out, _, _ := runTool(t, "help")
	if strings.Contains(out, "PROG") {
		t.Errorf("help shows the placeholder PROG: %s", out)
	}
	for _, want := range []string{"completion SHELL", "man ", "version", "help [COMMAND]"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("help lacks %q: %s", want, out)
		}
	}
	for _, args := range [][]string{{"help", "completion"}, {"completion", "--help"}, {"completion", "-h"}, {"help", "man"}, {"man", "--help"}} {
		code, out, errOut, _ := runTool(t, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: tool "+args[0]) && !strings.HasPrefix(out, "Usage: tool "+args[1]) {
			t.Errorf("%v: exit %d, %q, %q", args, code, out, errOut)
		}
	}
	if code, _, _, _ := runTool(t, "completion"); code != ExitUsage {
		t.Errorf("completion without a shell: exit %d", code)
	}
}

func TestHiddenFlag(t *testing.T) {
	p := &Program[*testEnv]{Name: "tool", Sample: &testEnv{}, Commands: []Command[*testEnv]{{Name: "run", Setup: func(fs *flag.FlagSet, e *testEnv) Runner {
		s := fs.String("socket", "", "socket `PATH`")
		fs.StringVar(s, "control", "", HiddenFlag+"old spelling")
		return func(context.Context, []string) error { e.ran = append(e.ran, *s); return nil }
	}}}}
	var out, errb bytes.Buffer
	e := &testEnv{}
	if code := p.Run(context.Background(), e, []string{"run", "--control", "x"}, &out, &errb); code != 0 || !slices.Equal(e.ran, []string{"x"}) {
		t.Fatalf("the hidden spelling: exit %d, %v, %s", code, e.ran, errb.String())
	}
	p.Run(context.Background(), e, []string{"help", "run"}, &out, &errb)
	if strings.Contains(out.String(), "control") || !strings.Contains(out.String(), "--socket") {
		t.Fatalf("help run: %s", out.String())
	}
}

// Values "@KIND" completes to what the program's Complete lists now, through `PROG __complete`.
func TestDynamicCompletion(t *testing.T) {
	p := testProgram()
	p.Commands = append(p.Commands, Command[*testEnv]{Name: "connect", Args: "NAME", Summary: "connect", Values: map[string]string{"": "@profiles"}})
	p.Complete = func(_ context.Context, _ *testEnv, kind string) []string {
		if kind == "profiles" {
			return []string{"office", "home lab", "oslo"}
		}
		return nil
	}
	var out, errb bytes.Buffer
	if code := p.Run(context.Background(), &testEnv{}, []string{"__complete", "profiles"}, &out, &errb); code != 0 || out.String() != "office\nhome lab\noslo\n" {
		t.Fatalf("__complete: exit %d, %q", code, out.String())
	}
	var script bytes.Buffer
	if err := p.WriteCompletion(&script, "bash"); err != nil {
		t.Fatal(err)
	}
	// The script runs "tool": put one on PATH that is this program.
	bin := t.TempDir()
	tool := "#!/bin/sh\n[ \"$1\" = __complete ] && [ \"$2\" = profiles ] && printf 'office\\nhome lab\\noslo\\n'\n"
	if err := os.WriteFile(filepath.Join(bin, "tool"), []byte(tool), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	got, err := BashComplete(t.TempDir(), script.String(), "tool", "connect", "o")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"office", "oslo"}) {
		t.Fatalf("connect o<TAB>: %q", got)
	}
	got, _ = BashComplete(t.TempDir(), script.String(), "tool", "connect", "h")
	if !slices.Equal(got, []string{"home lab"}) {
		t.Fatalf("connect h<TAB>: %q", got)
	}
	var fish bytes.Buffer
	p.WriteCompletion(&fish, "fish")
	if !strings.Contains(fish.String(), "(tool __complete profiles 2>/dev/null)") {
		t.Fatal("fish completion lacks the dynamic profiles")
	}
}

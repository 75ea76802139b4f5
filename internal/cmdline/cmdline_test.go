package cmdline

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type testEnv struct{ ran []string }

func testProgram() *Program[*testEnv] {
	return &Program[*testEnv]{
		Name:    "tool",
		Summary: "a test tool",
		Version: func() string { return "tool v1" },
		Sample:  &testEnv{},
		Commands: []Command[*testEnv]{
			{Name: "knock", Args: "TARGET", Summary: "knock", Setup: func(fs *flag.FlagSet, e *testEnv) Runner {
				secret := fs.String("secret", "", "read the key from `FILE`")
				fs.String("scheme", "v2", "knock scheme `v2|hyp`")
				fs.Duration("gap", 0, "wait `DURATION` between datagrams")
				fs.Bool("v", false, "verbose")
				return func(_ context.Context, args []string) error {
					if len(args) != 1 {
						return Usage("want one TARGET, got %d", len(args))
					}
					e.ran = append(e.ran, "knock "+args[0]+" "+*secret)
					return nil
				}
			}, Values: map[string]string{"scheme": "v2 hyp"}},
			{Name: "profile add", Args: "NAME URI", Summary: "save a profile", Setup: func(fs *flag.FlagSet, e *testEnv) Runner {
				fs.String("secret-file", "", "key `FILE`")
				return func(context.Context, []string) error { return nil }
			}},
			{Name: "profile list", Summary: "list profiles", Values: map[string]string{"": "dir"}},
			{Name: "old", Summary: "kept for scripts", Hidden: true},
		},
	}
}

func runTool(t *testing.T, args ...string) (int, string, string, *testEnv) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &testEnv{}
	code := testProgram().Run(context.Background(), e, args, &out, &errb)
	return code, out.String(), errb.String(), e
}

func TestRunDispatchAndErrors(t *testing.T) {
	code, _, _, e := runTool(t, "knock", "gw", "--secret", "k")
	if code != 0 || !slices.Equal(e.ran, []string{"knock gw k"}) {
		t.Fatalf("knock: exit %d, ran %v", code, e.ran)
	}
	for _, c := range []struct {
		args []string
		code int
		err  string // the whole stderr, one line
	}{
		{nil, 2, "tool: no command given"},
		{[]string{"nope"}, 2, "tool: unknown command \"nope\" (see 'tool help')"},
		{[]string{"knock", "--bogus"}, 2, "tool knock: unknown flag --bogus (see 'tool help knock')"},
		{[]string{"knock", "gw", "--gap"}, 2, "tool knock: flag --gap needs a value (see 'tool help knock')"},
		{[]string{"knock", "gw", "--gap", "5"}, 2, `tool knock: --gap "5": not a duration such as 500ms, 30s or 5m (see 'tool help knock')`},
		{[]string{"knock"}, 2, "tool knock: want one TARGET, got 0"},
		{[]string{"profile", "frob"}, 2, `tool: profile: unknown verb "frob"; want one of: profile add, profile list (see 'tool help profile')`},
		{[]string{"version", "x"}, 2, "tool version: takes no arguments"},
		{[]string{"completion", "tcsh"}, 2, `tool completion: unknown shell "tcsh"; want one of: bash, zsh, fish`},
	} {
		code, _, errOut, _ := runTool(t, c.args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != c.code || lines[len(lines)-1] != c.err {
			t.Errorf("%q: exit %d, stderr %q; want %d and last line %q", c.args, code, errOut, c.code, c.err)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-V"}} {
		if code, out, _, _ := runTool(t, args...); code != 0 || out != "tool v1\n" {
			t.Errorf("%q: exit %d, %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"help", "knock"}, {"knock", "-h"}, {"knock", "--help"}} {
		code, out, _, _ := runTool(t, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: tool knock TARGET [flags]\n") ||
			!strings.Contains(out, "  --secret FILE    read the key from FILE\n") ||
			!strings.Contains(out, "  --scheme v2|hyp  knock scheme v2|hyp (default v2)\n") ||
			!strings.Contains(out, "  -v               verbose\n") {
			t.Errorf("%q: exit %d:\n%s", args, code, out)
		}
	}
	for _, args := range [][]string{{"help", "profile"}, {"profile", "-h"}} {
		code, out, _, _ := runTool(t, args...)
		if code != 0 || !strings.Contains(out, "profile add") || !strings.Contains(out, "profile list") {
			t.Errorf("%q: exit %d:\n%s", args, code, out)
		}
	}
	code, out, _, _ := runTool(t, "help")
	if code != 0 || strings.Contains(out, "old") || !strings.Contains(out, "profile add") {
		t.Errorf("overview lists hidden commands or lacks some:\n%s", out)
	}
}

// complete runs the generated bash completion in a directory with a few files.
func complete(t *testing.T, script string, words ...string) []string {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "keys"), 0o700)
	os.WriteFile(filepath.Join(dir, "key.txt"), nil, 0o600)
	got, err := BashComplete(dir, script, words...)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBashCompletion(t *testing.T) {
	var b bytes.Buffer
	if err := testProgram().WriteCompletion(&b, "bash"); err != nil {
		t.Fatal(err)
	}
	script := b.String()
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"tool", "pro"}, []string{"profile"}},
		{[]string{"tool", ""}, []string{"--help", "--version", "completion", "help", "knock", "man", "profile", "version"}},
		{[]string{"tool", "profile", ""}, []string{"add", "list"}},
		{[]string{"tool", "profile", "a"}, []string{"add"}},
		{[]string{"tool", "knock", "--s"}, []string{"--scheme", "--secret"}},
		{[]string{"tool", "knock", "gw", "-"}, []string{"--gap", "--help", "--scheme", "--secret", "-v"}},
		{[]string{"tool", "knock", "--scheme", ""}, []string{"hyp", "v2"}},
		{[]string{"tool", "knock", "--secret", "ke"}, []string{"key.txt", "keys"}},
		{[]string{"tool", "knock", "--gap", ""}, nil},
		{[]string{"tool", "profile", "add", "--secret-file", "key."}, []string{"key.txt"}},
		{[]string{"tool", "profile", "list", "k"}, []string{"keys"}},
		{[]string{"tool", "completion", ""}, []string{"bash", "fish", "zsh"}},
		{[]string{"tool", "help", "kn"}, []string{"knock"}},
	} {
		if got := complete(t, script, c.words...); !slices.Equal(got, c.want) {
			t.Errorf("%q: completions %q, want %q", c.words, got, c.want)
		}
	}
}

// The zsh and fish scripts must at least parse; where the shells are installed, they check it.
func TestOtherShellsParse(t *testing.T) {
	for _, sh := range []string{"zsh", "fish"} {
		var b bytes.Buffer
		if err := testProgram().WriteCompletion(&b, sh); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "profile") {
			t.Errorf("%s script lacks the commands:\n%s", sh, b.String())
		}
		if _, err := exec.LookPath(sh); err != nil {
			t.Logf("%s is not installed: checked the content only", sh)
			continue
		}
		f := filepath.Join(t.TempDir(), "c."+sh)
		os.WriteFile(f, b.Bytes(), 0o600)
		if out, err := exec.Command(sh, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", sh, err, out)
		}
		if sh != "fish" {
			continue
		}
		// fish completes a command line on request: ask it as a user's TAB would.
		for line, want := range map[string]string{"tool pro": "profile", "tool profile ": "add", "tool knock --sch": "--scheme", "tool knock --scheme ": "hyp"} {
			out, err := exec.Command("fish", "-c", "source "+f+"; complete -C '"+line+"'").CombinedOutput()
			if err != nil || !strings.Contains(string(out), want) {
				t.Errorf("fish completion of %q: %v %q; want %q among them", line, err, out, want)
			}
		}
	}
}

func TestManPage(t *testing.T) {
	var b bytes.Buffer
	if err := testProgram().WriteMan(&b); err != nil {
		t.Fatal(err)
	}
	man := b.String()
	for _, want := range []string{".TH TOOL 1", ".SH NAME\ntool \\- a test tool", ".B tool knock \\fITARGET\\fR", ".B \\-\\-secret \\fIFILE\\fR", ".B \\-v\n", "profile add"} {
		if !strings.Contains(man, want) {
			t.Errorf("man page lacks %q:\n%s", want, man)
		}
	}
	if strings.Contains(man, "tool old") {
		t.Error("man page lists a hidden command")
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(man)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff warns about the man page: %v\n%s", err, out)
		}
	}
}

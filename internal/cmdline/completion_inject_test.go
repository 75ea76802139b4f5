package cmdline

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCompletionWordsAreData: the words a program offers for completion come from what it
// finds (profiles, key files, the interfaces of a container's namespace), so anyone who can
// name one chooses them: a word is completed as it is, never run or expanded, whatever it
// holds. Each word here would make a file when a shell expanded it; pressing TAB (in bash, in
// zsh through bashcompinit, in fish) must make none, and still offer the words.
func TestCompletionWordsAreData(t *testing.T) {
	dir := t.TempDir()
	marks := []string{filepath.Join(dir, "ran-dollar"), filepath.Join(dir, "ran-backtick"), filepath.Join(dir, "ran-fish")}
	words := []string{"$(touch " + marks[0] + ")", "`touch " + marks[1] + "`", "(touch " + marks[2] + ")", "*", "office"}
	p := testProgram()
	p.Commands = append(p.Commands, Command[*testEnv]{Name: "connect", Args: "NAME", Summary: "connect", Values: map[string]string{"": "@profiles"}})
	bin := t.TempDir()
	tool := "#!/bin/sh\n[ \"$1\" = __complete ] && [ \"$2\" = profiles ] && cat " + filepath.Join(bin, "words") + "\n"
	if err := os.WriteFile(filepath.Join(bin, "tool"), []byte(tool), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "words"), []byte(strings.Join(words, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	script := func(shell string) string {
		var b bytes.Buffer
		if err := p.WriteCompletion(&b, shell); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	ran := func(shell string) {
		t.Helper()
		for _, m := range marks {
			if _, err := os.Stat(m); err == nil {
				t.Errorf("%s ran a command a completion word held (%s exists)", shell, filepath.Base(m))
				os.Remove(m)
			}
		}
	}
	// A directory with a file in it: a "*" that was globbed would come back as its name.
	cwd := t.TempDir()
	os.WriteFile(filepath.Join(cwd, "a-file"), nil, 0o600)

	got, err := BashComplete(cwd, script("bash"), "tool", "connect", "")
	if err != nil {
		t.Fatal(err)
	}
	ran("bash")
	want := slices.Sorted(slices.Values(words))
	if !slices.Equal(got, want) {
		t.Errorf("bash: connect <TAB> offers %q, want the words as they are %q", got, want)
	}
	if got, _ := BashComplete(cwd, script("bash"), "tool", "connect", "$"); !slices.Equal(got, []string{words[0]}) {
		t.Errorf("bash: connect $<TAB> offers %q, want %q", got, words[:1])
	}
	ran("bash")

	// zsh runs the bash function through bashcompinit, which calls it in sh emulation.
	if _, err := exec.LookPath("zsh"); err == nil {
		f := filepath.Join(t.TempDir(), "c.zsh")
		os.WriteFile(f, []byte(script("zsh")), 0o600)
		src := "autoload -U +X compinit && compinit -u -D; source " + f + "\nemulate -L sh; setopt kshglob noshglob braceexpand\n" +
			"COMP_WORDS=(tool connect ''); COMP_CWORD=2; " + fnName("tool") + "; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command("zsh", "-f", "-c", src)
		cmd.Dir = cwd
		out, err := cmd.CombinedOutput()
		ran("zsh")
		lines := slices.Sorted(slices.Values(strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })))
		if err != nil || !slices.Equal(lines, want) {
			t.Errorf("zsh: connect <TAB>: %v, offers %q, want %q", err, lines, want)
		}
	} else {
		t.Log("zsh is not installed: bash and fish checked")
	}
	if _, err := exec.LookPath("fish"); err == nil {
		f := filepath.Join(t.TempDir(), "c.fish")
		os.WriteFile(f, []byte(script("fish")), 0o600)
		cmd := exec.Command("fish", "--no-config", "-c", "source "+f+"; complete -C 'tool connect '")
		cmd.Dir = cwd
		out, err := cmd.CombinedOutput()
		ran("fish")
		if err != nil || !strings.Contains(string(out), "office") || !strings.Contains(string(out), words[0]) {
			t.Errorf("fish: connect <TAB>: %v, %q; want the words among them", err, out)
		}
	} else {
		t.Log("fish is not installed: bash and zsh checked")
	}
}

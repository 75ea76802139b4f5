package cli_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

// The documents whose commands TestDocumentedCommands runs.
var documents = []string{"README.md", "docs/gateway.md", "docs/client.md"}

// docCommand is one hyp or hypd command line found in a document.
type docCommand struct {
	where string   // FILE:LINE
	argv  []string // the program's name first
}

// documentedCommands extracts every hyp and hypd command of the documents: the lines of their
// sh, console and bash code blocks, and the inline code spans of the prose. A line may hold
// several commands (&&, ||, ;, |); comments, redirections, sudo, ./ and a $ prompt are dropped.
func documentedCommands(t *testing.T) []docCommand {
	t.Helper()
	span := regexp.MustCompile("`([^`]+)`")
	var out []docCommand
	for _, doc := range documents {
		b, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		inBlock, shell := false, false
		for i, line := range strings.Split(string(b), "\n") {
			where := fmt.Sprintf("%s:%d", doc, i+1)
			if fence, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
				inBlock = !inBlock
				shell = inBlock && slices.Contains([]string{"sh", "console", "bash", "shell"}, fence)
				continue
			}
			var texts []string
			switch {
			case inBlock && shell:
				texts = []string{line}
			case !inBlock:
				for _, m := range span.FindAllStringSubmatch(line, -1) {
					texts = append(texts, m[1])
				}
			}
			for _, text := range texts {
				for _, argv := range commandsOf(text) {
					out = append(out, docCommand{where: where, argv: argv})
				}
			}
		}
	}
	return out
}

// commandsOf splits one shell line into the hyp and hypd commands it runs.
func commandsOf(line string) [][]string {
	words, ok := shellWords(line)
	if !ok {
		return nil
	}
	var cmds [][]string
	var cur []string
	flush := func() {
		for len(cur) > 0 && slices.Contains([]string{"sudo", "$", "#"}, cur[0]) {
			cur = cur[1:]
		}
		if len(cur) > 0 {
			name := strings.TrimPrefix(cur[0], "./")
			if name == "hyp" || name == "hypd" {
				cmds = append(cmds, append([]string{name}, cur[1:]...))
			}
		}
		cur = nil
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "&&" || w == "||" || w == ";" || w == "|":
			flush()
		case w == ">" || w == ">>" || w == "<" || w == "2>":
			i++ // and the file it names
		case strings.HasPrefix(w, ">") || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "2>"):
		default:
			cur = append(cur, w)
		}
	}
	flush()
	return cmds
}

// shellWords splits a line as sh would (quotes, a comment), well enough for documented commands;
// ok is false for a line it cannot read (an open quote: a command continued on the next line).
func shellWords(line string) (words []string, ok bool) {
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '#' && !in:
			return words, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case r == ';' || r == '|' && !in:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
			words = append(words, string(r))
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, false
	}
	if in {
		words = append(words, cur.String())
	}
	return words, true
}

// readOnly are the commands that only print: they run for real.
var readOnly = [][]string{{"hypd", "config", "default"}, {"hypd", "service-unit"}, {"hypd", "version"}, {"hyp", "version"},
	{"hypd", "man"}, {"hyp", "man"}, {"hypd", "completion"}, {"hyp", "completion"}, {"hypd", "help"}, {"hyp", "help"},
	{"hyp", "--version"}, {"hypd", "--version"}}

// Issue 21: every hyp and hypd command README.md, docs/gateway.md and docs/client.md show is one
// the tools accept. The commands that only print run as documented and must exit 0; every other
// runs with --help added after its arguments (before a "--" command), so its command, its flags
// and their values are parsed exactly as the tool would parse them, and it must exit 0 without
// acting. A document that names a command, a verb or a flag the tools do not have fails here.
// (The commands that act are run for real in namespaces by daemon/commands' operations tests.)
func TestDocumentedCommands(t *testing.T) {
	cmds := documentedCommands(t)
	// The documents show dozens of commands; a handful would mean the extraction broke.
	if len(cmds) < 60 {
		t.Fatalf("found only %d documented commands", len(cmds))
	}
	bins := map[string]string{"hyp": testbin.Path(t, "hyp"), "hypd": testbin.Path(t, "hypd")}
	ran := 0
	for _, c := range cmds {
		args := slices.Clone(c.argv[1:])
		asIs := false
		for _, ro := range readOnly {
			if len(c.argv) >= len(ro) && slices.Equal(c.argv[:len(ro)], ro) {
				asIs = true
			}
		}
		if len(args) == 0 || isPlaceholder(args[0]) || args[0] == "help" && len(args) > 1 && isPlaceholder(args[1]) {
			continue // "hyp" alone in the prose, or "hyp COMMAND -h": a pattern, not a command
		}
		for i, a := range args {
			// "bash|zsh|fish" lists the choices: the first stands for them.
			if strings.Contains(a, "|") && !strings.Contains(a, "://") {
				args[i], _, _ = strings.Cut(a, "|")
			}
		}
		if asIs && slices.Contains(args, "…") {
			continue // "hypd completion …"
		}
		// The prose names a flag as `hyp knock --check`: the flag must exist (the command's help
		// lists it); it has no value here to parse.
		var named string
		if last := args[len(args)-1]; !asIs && strings.HasPrefix(last, "--") && len(last) > 2 && !strings.Contains(last, "=") {
			named, args = last, args[:len(args)-1]
		}
		if !asIs {
			if i := slices.Index(args, "--"); i >= 0 {
				args = slices.Insert(args, i, "--help")
			} else {
				args = append(args, "--help")
			}
		}
		cmd := exec.Command(bins[c.argv[0]], args...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Errorf("%s: %s: exit %d: %s", c.where, strings.Join(c.argv, " "), ee.ExitCode(), firstLine(string(out)))
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.where, err)
		}
		if named != "" && !regexp.MustCompile(`(?m)^\s+`+regexp.QuoteMeta(named)+`\b`).Match(out) {
			t.Errorf("%s: %s: the help does not list %s", c.where, strings.Join(c.argv, " "), named)
			continue
		}
		ran++
	}
	t.Logf("%d documented commands accepted", ran)
}

// isPlaceholder reports whether a word stands for a command in the prose: COMMAND, VERB.
func isPlaceholder(w string) bool {
	return w != "" && strings.ToUpper(w) == w && strings.ToLower(w) != w
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

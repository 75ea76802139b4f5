package cmdline

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Shells lists the shells WriteCompletion writes for.
func Shells() []string { return []string{"bash", "zsh", "fish"} }

// WriteCompletion writes the completion script for shell, built from the command table: the
// commands and a group's verbs, each command's flags, and what a flag's value completes to.
func (p *Program[E]) WriteCompletion(w io.Writer, shell string) error {
	var s string
	switch shell {
	case "bash":
		s = p.bash()
	case "zsh":
		// zsh runs the bash function through bashcompinit: one description of the table, and the
		// same behaviour in both shells.
		s = "#compdef " + p.Name + "\n# zsh completion for " + p.Name + ", generated from its command table.\n" +
			"autoload -U +X bashcompinit && bashcompinit\n" + p.bash()
	case "fish":
		s = p.fish()
	default:
		return Usage("completion: unknown shell %q; want one of: %s", shell, strings.Join(Shells(), ", "))
	}
	_, err := io.WriteString(w, s)
	return err
}

// topWords are the first words of the listed commands, once each, plus version and help.
func (p *Program[E]) topWords() []string {
	var out []string
	for _, c := range p.Commands {
		first := strings.Fields(c.Name)[0]
		if !c.Hidden && !slices.Contains(out, first) {
			out = append(out, first)
		}
	}
	return append(out, "completion", "man", "version", "help")
}

func fnName(prog string) string { return "_" + strings.ReplaceAll(prog, "-", "_") + "_complete" }

func (p *Program[E]) bash() string {
	var b strings.Builder
	fn := fnName(p.Name)
	fmt.Fprintf(&b, "# bash completion for %s, generated from its command table (%s completion bash).\n", p.Name, p.Name)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString("\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]:-}\n")
	b.WriteString("\tCOMPREPLY=()\n")
	fmt.Fprintf(&b, "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(append(p.topWords(), "--version", "--help"), " "))
	b.WriteString("\tcase $cmd in\n")
	var groups []string
	for _, c := range p.Commands {
		words := strings.Fields(c.Name)
		if len(words) > 1 && !slices.Contains(groups, words[0]) {
			groups = append(groups, words[0])
		}
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "\t%s)\n\t\tif [ \"$COMP_CWORD\" -eq 2 ]; then\n\t\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n\t\tcmd=\"$cmd ${COMP_WORDS[2]}\" ;;\n", g, strings.Join(p.verbs(g), " "))
	}
	fmt.Fprintf(&b, "\thelp) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", strings.Join(p.topWords(), " "))
	fmt.Fprintf(&b, "\tcompletion) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", strings.Join(Shells(), " "))
	b.WriteString("\tesac\n")

	// A flag's value: files, directories, a word list, or nothing to offer.
	b.WriteString("\tcase \"$cmd/$prev\" in\n")
	for _, c := range p.Commands {
		for _, f := range c.Flags(p.Sample) {
			if f.Value == "" {
				continue
			}
			fmt.Fprintf(&b, "\t%q | %q) %s; return ;;\n", c.Name+"/--"+f.Name, c.Name+"/-"+f.Name, p.compgenFor(c.valueKind(f)))
		}
	}
	b.WriteString("\tesac\n")

	b.WriteString("\tcase $cmd in\n")
	for _, c := range p.Commands {
		var names []string
		for _, f := range c.Flags(p.Sample) {
			names = append(names, dashes(f.Name)+f.Name)
		}
		names = append(names, "--help")
		pos := p.compgenFor(c.Values[""])
		fmt.Fprintf(&b, "\t%q)\n\t\tif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); else %s; fi ;;\n",
			c.Name, strings.Join(names, " "), pos)
	}
	b.WriteString("\tesac\n}\n")
	fmt.Fprintf(&b, "complete -F %s %s\n", fn, p.Name)
	return b.String()
}

func (p *Program[E]) compgenFor(kind string) string {
	if k, ok := strings.CutPrefix(kind, "@"); ok {
		// The words come from the program itself, as they are now (saved profiles, key files,
		// interface names), one a line, and are data: compgen -W would expand them (a name
		// "$(reboot)" would run when root presses TAB) and an unquoted $(...) would glob them,
		// so each line is read as it is and kept when it starts with the word being completed.
		return fmt.Sprintf(`local w; while IFS= read -r w; do [[ $w == "$cur"* ]] && COMPREPLY+=("$w"); done < <(%s %s %s 2>/dev/null)`, p.Name, completeCommand, k)
	}
	switch kind {
	case "":
		return "COMPREPLY=()"
	case "file":
		return `COMPREPLY=($(compgen -f -- "$cur"))`
	case "dir":
		return `COMPREPLY=($(compgen -d -- "$cur"))`
	}
	return fmt.Sprintf(`COMPREPLY=($(compgen -W %q -- "$cur"))`, kind)
}

func (p *Program[E]) fish() string {
	var b strings.Builder
	top := p.topWords()
	fmt.Fprintf(&b, "# fish completion for %s, generated from its command table (%s completion fish).\n", p.Name, p.Name)
	fmt.Fprintf(&b, "complete -c %s -f\n", p.Name)
	fmt.Fprintf(&b, "complete -c %s -n __fish_use_subcommand -l version -d 'print the version'\n", p.Name)
	summaries := map[string]string{}
	for _, b := range builtins() {
		summaries[b.name] = strings.ReplaceAll(b.summary, "PROG", p.Name)
	}
	for _, c := range p.Commands {
		words := strings.Fields(c.Name)
		if _, ok := summaries[words[0]]; !ok && !c.Hidden {
			summaries[words[0]] = c.Summary
			if len(words) > 1 {
				summaries[words[0]] = words[0] + " commands"
			}
		}
	}
	for _, w := range top {
		fmt.Fprintf(&b, "complete -c %s -n __fish_use_subcommand -a %s -d %s\n", p.Name, w, fishQuote(summaries[w]))
	}
	fmt.Fprintf(&b, "complete -c %s -n '__fish_seen_subcommand_from completion' -a %q\n", p.Name, strings.Join(Shells(), " "))
	for _, c := range p.Commands {
		if c.Hidden {
			continue
		}
		words := strings.Fields(c.Name)
		cond := "__fish_seen_subcommand_from " + words[0]
		if len(words) > 1 {
			verbs := p.verbs(words[0])
			fmt.Fprintf(&b, "complete -c %s -n '%s; and not __fish_seen_subcommand_from %s' -a %s -d %s\n",
				p.Name, cond, strings.Join(verbs, " "), words[1], fishQuote(c.Summary))
			cond += "; and __fish_seen_subcommand_from " + words[1]
		}
		for _, f := range c.Flags(p.Sample) {
			opt := "-l"
			if len(f.Name) == 1 {
				opt = "-s"
			}
			fmt.Fprintf(&b, "complete -c %s -n '%s' %s %s", p.Name, cond, opt, f.Name)
			if f.Value != "" {
				switch kind := c.valueKind(f); kind {
				case "file", "dir":
					b.WriteString(" -r -F")
				case "":
					b.WriteString(" -r")
				default:
					if k, ok := strings.CutPrefix(kind, "@"); ok {
						fmt.Fprintf(&b, " -x -a '(%s %s %s 2>/dev/null)'", p.Name, completeCommand, k)
						break
					}
					fmt.Fprintf(&b, " -x -a %s", fishQuote(kind))
				}
			}
			fmt.Fprintf(&b, " -d %s\n", fishQuote(f.Usage))
		}
		if k := c.Values[""]; k == "file" || k == "dir" {
			fmt.Fprintf(&b, "complete -c %s -n '%s' -F\n", p.Name, cond)
		} else if d, ok := strings.CutPrefix(k, "@"); ok {
			fmt.Fprintf(&b, "complete -c %s -n '%s' -a '(%s %s %s 2>/dev/null)'\n", p.Name, cond, p.Name, completeCommand, d)
		}
	}
	return b.String()
}

func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

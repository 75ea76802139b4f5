package cmdline

import (
	"fmt"
	"io"
	"strings"
)

// overview is `PROG help`: what the program is and its commands.
func (p *Program[E]) overview(w io.Writer) {
	fmt.Fprintf(w, "%s — %s\n\nUsage: %s COMMAND [flags] [args]\n\nCommands:\n", p.Name, p.Summary, p.Name)
	for _, c := range p.Commands {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(w, "  %-18s %s\n", c.Name, c.Summary)
	}
	for _, b := range builtins() {
		fmt.Fprintf(w, "  %-18s %s\n", b.usage, strings.ReplaceAll(b.summary, "PROG", p.Name))
	}
	fmt.Fprintf(w, "\nRun '%s help COMMAND' for a command's flags.\n", p.Name)
}

func (p *Program[E]) help(stdout, stderr io.Writer, env E, args []string) int {
	if len(args) == 0 {
		p.overview(stdout)
		return ExitOK
	}
	if len(args) == 1 && p.builtinHelp(stdout, args[0]) {
		return ExitOK
	}
	c, n, err := p.resolve(args)
	if err != nil || n != len(args) {
		if g := p.group(args[0]); g != "" && len(args) == 1 {
			p.groupHelp(stdout, g)
			return ExitOK
		}
		if err == nil {
			err = fmt.Errorf("unknown command %q (see '%s help')", strings.Join(args, " "), p.Name)
		}
		fmt.Fprintf(stderr, "%s help: %v\n", p.Name, err)
		return ExitUsage
	}
	p.commandHelp(stdout, c, env)
	return ExitOK
}

// builtins are the commands every program has besides its table, in the order help lists them.
func builtins() []struct{ name, usage, summary, help string } {
	return []struct{ name, usage, summary, help string }{
		{"completion", "completion SHELL", "print the completion script for bash, zsh or fish",
			"Completes commands, flags, files and, where they apply, saved names (profiles, keys,\nservices, interfaces). Install it with e.g.\n  PROG completion bash > /etc/bash_completion.d/PROG\n  PROG completion zsh > \"${fpath[1]}/_PROG\"\n  PROG completion fish > ~/.config/fish/completions/PROG.fish"},
		{"man", "man", "print the man page (troff); e.g. PROG man | man -l -", ""},
		{"version", "version", "print the version (also --version)", ""},
		{"help", "help [COMMAND]", "show this, or one command's help (also COMMAND -h)", ""},
	}
}

// builtinHelp prints the help of a built-in command and reports whether name is one.
func (p *Program[E]) builtinHelp(w io.Writer, name string) bool {
	for _, b := range builtins() {
		if b.name != name {
			continue
		}
		fmt.Fprintf(w, "Usage: %s %s\n\n%s\n", p.Name, b.usage, strings.ReplaceAll(b.summary, "PROG", p.Name))
		if b.help != "" {
			fmt.Fprintf(w, "\n%s\n", strings.ReplaceAll(b.help, "PROG", p.Name))
		}
		return true
	}
	return false
}

func (p *Program[E]) groupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: %s %s VERB [flags] [args]\n\nVerbs:\n", p.Name, group)
	for _, c := range p.Commands {
		if strings.HasPrefix(c.Name, group+" ") && !c.Hidden {
			fmt.Fprintf(w, "  %-18s %s\n", c.Name, c.Summary)
		}
	}
	fmt.Fprintf(w, "\nRun '%s help %s VERB' for a verb's flags.\n", p.Name, group)
}

// synopsis is "PROG NAME ARGS [flags]".
func (p *Program[E]) synopsis(c Command[E], env E) string {
	s := p.Name + " " + c.Name
	if c.Args != "" {
		s += " " + c.Args
	}
	if len(c.Flags(env)) > 0 && !strings.Contains(c.Args, "flags]") {
		s += " [flags]"
	}
	return s
}

func (p *Program[E]) commandHelp(w io.Writer, c Command[E], env E) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", p.synopsis(c, env), c.Summary)
	if h := strings.TrimSpace(c.Help); h != "" {
		fmt.Fprintf(w, "\n%s\n", h)
	}
	flags := c.Flags(env)
	if len(flags) == 0 {
		return
	}
	fmt.Fprintf(w, "\nFlags (before or after the arguments):\n")
	width := 0
	for _, f := range flags {
		width = max(width, len(flagSpelling(f)))
	}
	for _, f := range flags {
		fmt.Fprintf(w, "  %-*s  %s%s\n", width, flagSpelling(f), f.Usage, defaultNote(f))
	}
}

func flagSpelling(f Flag) string {
	s := dashes(f.Name) + f.Name
	if f.Value != "" {
		s += " " + f.Value
	}
	return s
}

// dashes is how a flag is spelled: -v for a one-letter flag, --name for the rest.
func dashes(name string) string {
	if len(name) == 1 {
		return "-"
	}
	return "--"
}

func defaultNote(f Flag) string {
	if f.Default == "" {
		return ""
	}
	return " (default " + f.Default + ")"
}

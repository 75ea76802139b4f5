package cmdline

import (
	"fmt"
	"io"
	"strings"
)

// WriteMan writes the program's man page (troff, man macros) built from the command table.
func (p *Program[E]) WriteMan(w io.Writer) error {
	var b strings.Builder
	sec := p.ManSection
	if sec == 0 {
		sec = 1
	}
	title := "User Commands"
	if sec == 8 {
		title = "System Administration"
	}
	fmt.Fprintf(&b, ".\\\" Generated from the command table (internal/cmdline); do not edit: run `%s man`.\n", p.Name)
	fmt.Fprintf(&b, ".TH %s %d \"\" \"hyp\" \"%s\"\n", strings.ToUpper(p.Name), sec, title)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", p.Name, troff(p.Summary))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n.I COMMAND\n[\\fIflags\\fR] [\\fIargs\\fR]\n.br\n.B %s \\-\\-version\n", p.Name, p.Name)
	if d := strings.TrimSpace(p.Description); d != "" {
		b.WriteString(".SH DESCRIPTION\n")
		paragraphs(&b, d)
	}
	b.WriteString(".SH COMMANDS\nFlags may come before or after the arguments, spelled \\fB\\-\\-name\\fR or \\fB\\-name\\fR.\n")
	for _, c := range p.Commands {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(&b, ".TP\n.B %s", troff(p.Name+" "+c.Name))
		if c.Args != "" {
			fmt.Fprintf(&b, " \\fI%s\\fR", troff(c.Args))
		}
		fmt.Fprintf(&b, "\n%s.\n", troff(strings.TrimSuffix(c.Summary, ".")))
		if h := strings.TrimSpace(c.Help); h != "" {
			b.WriteString(".RS\n")
			paragraphs(&b, h)
			b.WriteString(".RE\n")
		}
		if flags := c.Flags(p.Sample); len(flags) > 0 {
			b.WriteString(".RS\n")
			for _, f := range flags {
				fmt.Fprintf(&b, ".TP\n.B %s", troff(dashes(f.Name)+f.Name))
				if f.Value != "" {
					fmt.Fprintf(&b, " \\fI%s\\fR", troff(f.Value))
				}
				fmt.Fprintf(&b, "\n%s%s\n", troff(f.Usage), troff(defaultNote(f)))
			}
			b.WriteString(".RE\n")
		}
	}
	fmt.Fprintf(&b, ".TP\n.B %s version\nPrint the version (also \\fB\\-\\-version\\fR).\n", p.Name)
	fmt.Fprintf(&b, ".TP\n.B %s help \\fR[\\fICOMMAND\\fR]\nList the commands, or show one command's help (also \\fICOMMAND\\fR \\fB\\-h\\fR).\n", p.Name)
	fmt.Fprintf(&b, ".TP\n.B %s completion \\fIbash\\fR|\\fIzsh\\fR|\\fIfish\\fR\nPrint the shell completion script.\n", p.Name)
	b.WriteString(strings.TrimLeft(p.ManTail, "\n"))
	_, err := io.WriteString(w, b.String())
	return err
}

// paragraphs writes text as troff paragraphs; lines indented by two or more spaces (examples)
// are kept as they are.
func paragraphs(b *strings.Builder, text string) {
	for i, para := range strings.Split(text, "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		var words []string
		example := false
		flush := func() {
			if len(words) > 0 {
				b.WriteString(troff(strings.Join(words, " ")) + "\n")
				words = nil
			}
		}
		for _, l := range strings.Split(para, "\n") {
			indented := strings.HasPrefix(l, "  ")
			switch {
			case indented && !example:
				flush()
				b.WriteString(".nf\n")
				example = true
			case !indented && example:
				b.WriteString(".fi\n")
				example = false
			}
			if example {
				b.WriteString(troff(strings.TrimPrefix(l, "  ")) + "\n")
			} else {
				words = append(words, strings.Fields(l)...)
			}
		}
		flush()
		if example {
			b.WriteString(".fi\n")
		}
	}
}

// troff escapes text for a man page: backslashes, hyphens (so options can be searched and
// copied), and a leading dot or quote that would start a request.
func troff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

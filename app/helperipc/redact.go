package helperipc

import (
	"cmp"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hideyourports/hyp/app/command"
)

// hiddenText stands for a command, or a part of it, cut out of a text a user reads.
const hiddenText = "(hidden)"

// view is what one peer may read of the helper's answers: the one place where the server hides
// the profiles' commands from peers that are not administrators. The commands are root's (they
// may carry a token or a path worth hiding): users see that a profile runs one, not which. The
// handler's texts (status, last error, connect steps and errors) should not name a command in
// the first place (app/connect tells of it without); a view cuts out what slipped through.
type view struct {
	admin bool
	// hide are the texts cut out of every answer to a user, longest first: each command as a
	// whole, its program (as given and its base name), and its arguments that look like a path,
	// a setting or a token.
	hide []string
}

// viewFor is what p may read; profiles are the handler's, with their commands.
func viewFor(p Peer, profiles []ProfileState) view {
	if p.Admin {
		return view{admin: true}
	}
	var hide []string
	for _, ps := range profiles {
		argv := ps.Command
		if len(argv) == 0 {
			continue
		}
		hide = append(hide, command.Join(argv), strings.Join(argv, " "), argv[0], filepath.Base(argv[0]))
		for _, a := range argv[1:] {
			if strings.ContainsAny(a, `/\=`) || len(a) >= 16 {
				hide = append(hide, a)
			}
		}
	}
	hide = slices.DeleteFunc(hide, func(s string) bool { return len(s) < 2 || s == "." })
	for _, h := range hide {
		// As exec's errors and %q write it: a Windows path's backslashes doubled.
		if q := strconv.Quote(h); q != `"`+h+`"` {
			hide = append(hide, q)
		}
	}
	slices.SortFunc(hide, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return view{hide: slices.Compact(hide)}
}

// text is s as the peer may read it.
func (v view) text(s string) string {
	for _, h := range v.hide {
		s = replaceWord(s, h, hiddenText)
	}
	return s
}

// profiles is the list as the peer may read it (ps is changed in place).
func (v view) profiles(ps []ProfileState) []ProfileState {
	if v.admin {
		return ps
	}
	for i := range ps {
		if len(ps[i].Command) > 0 {
			ps[i].Command = []string{HiddenCommand}
		}
		ps[i].Status = v.text(ps[i].Status)
		ps[i].LastError = v.text(ps[i].LastError)
	}
	return ps
}

// line is a line of a connect answer as the peer may read it.
func (v view) line(l StreamLine) StreamLine {
	if v.admin {
		return l
	}
	if l.Step != nil {
		st := *l.Step
		st.Message, st.Err = v.text(st.Message), v.text(st.Err)
		l.Step = &st
	}
	l.Error = v.text(l.Error)
	return l
}

// replaceWord replaces each occurrence of old in s that stands on its own (not inside a longer
// word: the program "sh" is not cut out of "finished") with repl.
func replaceWord(s, old, repl string) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, old)
		if i < 0 {
			break
		}
		end := i + len(old)
		before, after := rune(0), rune(0)
		if i > 0 {
			before = rune(rest[i-1])
		}
		if end < len(rest) {
			after = rune(rest[end])
		}
		b.WriteString(rest[:i])
		if (isWord(before) && isWord(rune(old[0]))) || (isWord(after) && isWord(rune(old[len(old)-1]))) {
			b.WriteString(old)
		} else {
			b.WriteString(repl)
		}
		rest = rest[end:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(rest)
	return b.String()
}

// isWord: r continues a word or a path (a byte of a multi-byte rune counts as one).
func isWord(r rune) bool {
	return r == '_' || r == '-' || r >= 0x80 ||
		('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

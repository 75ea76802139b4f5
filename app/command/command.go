// Package command is the one notation in which hyp shows and reads a profile's command (the VPN
// client it launches): the tray's field, profile list and show, the helper's list and the
// connect log all write it with Join, and the tray reads it back with Split. The command runs
// without a shell, so this notation is the only quoting there is: words split at blanks, single
// or double quotes around a word with blanks, and a backslash is an ordinary character, as in
// Windows paths. Shell quoting (%q, backslash escapes) would double every backslash.
package command

import (
	"errors"
	"strings"
)

// Split reads a command as argv: words split at spaces,
// with single or double quotes around words that contain spaces (Windows
// paths under "Program Files"). The command runs without a shell, so this is
// the only quoting there is; a backslash is an ordinary character, as in
// Windows paths.
func Split(s string) ([]string, error) {
	var (
		args  []string
		word  strings.Builder
		inArg bool
		quote rune
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				args = append(args, word.String())
				word.Reset()
				inArg = false
			}
		default:
			word.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, errors.New("a quote is not closed")
	}
	if inArg {
		args = append(args, word.String())
	}
	return args, nil
}

// Join writes argv in the notation, quoting what Split would otherwise split.
func Join(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case a == "" || strings.ContainsAny(a, " \t\n'"):
			if strings.Contains(a, `"`) {
				out[i] = "'" + a + "'"
			} else {
				out[i] = `"` + a + `"`
			}
		case strings.Contains(a, `"`):
			out[i] = "'" + a + "'"
		default:
			out[i] = a
		}
	}
	return strings.Join(out, " ")
}

package keyfile

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the TOML type of a value.
type Kind int

// The kinds a key file's values can have.
const (
	String Kind = iota + 1
	Integer
	Float
	Boolean
	Array
)

// Value is one setting of a TOML key file. Line is where its name stands.
type Value struct {
	Kind  Kind
	Line  int
	Str   string  // String
	Int   int64   // Integer
	Bool  bool    // Boolean
	Items []Value // Array
}

// scanner reads the TOML subset of a key file: `name = value` lines with
// comments and blank lines; values are basic and literal strings, decimal
// integers, floats, booleans and arrays of those (over several lines if need
// be). That is every form WriteKeyFile writes and an admin types; anything
// else (tables, inline tables, multi-line strings, dates) is an error by
// line and column. Errors never quote the input: the file holds a secret.
type scanner struct {
	src  string
	pos  int
	line int // 1-based line of pos
	bol  int // offset of the line's first byte
}

func (s *scanner) syntax() error {
	col := utf8.RuneCountInString(s.src[s.bol:min(s.pos, len(s.src))]) + 1
	return &Error{Line: s.line, Msg: fmt.Sprintf("not valid TOML at column %d (details withheld: the file holds a secret)", col)}
}

func (s *scanner) eof() bool { return s.pos >= len(s.src) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.pos]
}

// blank skips spaces and tabs.
func (s *scanner) blank() {
	for !s.eof() && (s.src[s.pos] == ' ' || s.src[s.pos] == '\t') {
		s.pos++
	}
}

// newline consumes a line end (and a comment before it); false if the line
// goes on with something else.
func (s *scanner) endOfLine() bool {
	s.blank()
	if s.peek() == '#' {
		for !s.eof() && s.src[s.pos] != '\n' {
			s.pos++
		}
	}
	if s.eof() {
		return true
	}
	if s.peek() == '\r' && s.pos+1 < len(s.src) && s.src[s.pos+1] == '\n' {
		s.pos++
	}
	if s.peek() != '\n' {
		return false
	}
	s.pos++
	s.line++
	s.bol = s.pos
	return true
}

// space skips blanks, comments and line ends, inside an array.
func (s *scanner) space() {
	for {
		s.blank()
		if s.eof() {
			return
		}
		if c := s.peek(); c != '#' && c != '\n' && c != '\r' {
			return
		}
		if !s.endOfLine() {
			return
		}
	}
}

// parseTOML reads every `name = value` of a key file, by name (lower case as
// written: TOML names are case-sensitive).
func parseTOML(data []byte) (map[string]Value, error) {
	if !utf8.Valid(data) {
		return nil, &Error{Msg: "not valid TOML: not UTF-8 text"}
	}
	s := &scanner{src: strings.TrimPrefix(string(data), "\uFEFF"), line: 1}
	values := map[string]Value{}
	for {
		s.space()
		if s.eof() {
			return values, nil
		}
		line := s.line
		if s.peek() == '[' {
			return nil, &Error{Line: line, Msg: "a [table] has no place in a key file; settings go at the top level"}
		}
		name, err := s.key()
		if err != nil {
			return nil, err
		}
		s.blank()
		if s.peek() != '=' {
			return nil, s.syntax()
		}
		s.pos++
		s.blank()
		v, err := s.value(0)
		if err != nil {
			return nil, err
		}
		if !s.endOfLine() {
			return nil, s.syntax()
		}
		if _, dup := values[name]; dup {
			return nil, &Error{Line: line, Field: name, Msg: "given twice"}
		}
		v.Line = line
		values[name] = v
	}
}

// key reads a bare or quoted name; a dotted name is kept whole, so it is
// reported as the unknown setting it is.
func (s *scanner) key() (string, error) {
	var parts []string
	for {
		s.blank()
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			v, err := s.value(0)
			if err != nil {
				return "", err
			}
			parts = append(parts, v.Str)
		case isBare(c):
			start := s.pos
			for !s.eof() && isBare(s.peek()) {
				s.pos++
			}
			parts = append(parts, s.src[start:s.pos])
		default:
			return "", s.syntax()
		}
		s.blank()
		if s.peek() != '.' {
			return strings.Join(parts, "."), nil
		}
		s.pos++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func (s *scanner) value(depth int) (Value, error) {
	switch c := s.peek(); {
	case c == '"':
		if strings.HasPrefix(s.src[s.pos:], `"""`) {
			return Value{}, s.syntax()
		}
		return s.basic()
	case c == '\'':
		if strings.HasPrefix(s.src[s.pos:], `'''`) {
			return Value{}, s.syntax()
		}
		s.pos++
		start := s.pos
		for !s.eof() && s.peek() != '\'' && s.peek() != '\n' {
			s.pos++
		}
		if s.peek() != '\'' {
			return Value{}, s.syntax()
		}
		s.pos++
		return Value{Kind: String, Str: s.src[start : s.pos-1]}, nil
	case c == '[' && depth == 0:
		return s.array()
	default:
		start := s.pos
		for !s.eof() && (isBare(s.peek()) || strings.IndexByte("+.:", s.peek()) >= 0) {
			s.pos++
		}
		word := s.src[start:s.pos]
		switch {
		case word == "true" || word == "false":
			return Value{Kind: Boolean, Bool: word == "true"}, nil
		case isInteger(word):
			n, err := strconv.ParseInt(strings.ReplaceAll(word, "_", ""), 10, 64)
			if err != nil {
				s.pos = start
				return Value{}, s.syntax()
			}
			return Value{Kind: Integer, Int: n}, nil
		case word != "" && (word[0] >= '0' && word[0] <= '9' || word[0] == '+' || word[0] == '-'):
			if _, err := strconv.ParseFloat(strings.ReplaceAll(word, "_", ""), 64); err == nil {
				return Value{Kind: Float}, nil
			}
		}
		s.pos = start
		return Value{}, s.syntax()
	}
}

// isInteger is TOML's decimal integer: an optional sign, digits with single
// underscores between them, no leading zero.
func isInteger(w string) bool {
	if w != "" && (w[0] == '+' || w[0] == '-') {
		w = w[1:]
	}
	if w == "" || len(w) > 1 && w[0] == '0' {
		return false
	}
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c >= '0' && c <= '9':
		case c == '_' && i > 0 && i < len(w)-1 && w[i-1] != '_':
		default:
			return false
		}
	}
	return true
}

// basic reads a "basic string" with TOML's escapes.
func (s *scanner) basic() (Value, error) {
	s.pos++ // the opening quote
	var b strings.Builder
	for {
		if s.eof() || s.peek() == '\n' {
			return Value{}, s.syntax()
		}
		c := s.peek()
		switch {
		case c == '"':
			s.pos++
			return Value{Kind: String, Str: b.String()}, nil
		case c == '\\':
			s.pos++
			e := s.peek()
			s.pos++
			switch e {
			case '"', '\\':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case 'u', 'U':
				n := 4
				if e == 'U' {
					n = 8
				}
				if s.pos+n > len(s.src) {
					return Value{}, s.syntax()
				}
				r, err := strconv.ParseUint(s.src[s.pos:s.pos+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return Value{}, s.syntax()
				}
				b.WriteRune(rune(r))
				s.pos += n
			default:
				s.pos -= 2
				return Value{}, s.syntax()
			}
		case c < 0x20 && c != '\t' || c == 0x7f:
			return Value{}, s.syntax()
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
}

// array reads [v, v, ...] over one line or several, a trailing comma allowed.
func (s *scanner) array() (Value, error) {
	s.pos++ // [
	a := Value{Kind: Array, Items: []Value{}}
	for {
		s.space()
		if s.peek() == ']' {
			s.pos++
			return a, nil
		}
		v, err := s.value(1)
		if err != nil {
			return Value{}, err
		}
		a.Items = append(a.Items, v)
		s.space()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return a, nil
		default:
			return Value{}, s.syntax()
		}
	}
}

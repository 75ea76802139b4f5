package sequence

import "fmt"

// Fields are knock settings as a reader found them (a profile URI, a key
// file, a saved profile, command-line flags, the tray's editor); nil means
// not given. Integers are int64 whatever their Params type, so the range
// check of a value that does not fit (low = 70000) is here too, not in
// every reader.
type Fields struct {
	Scheme *Scheme
	Realm  *string
	Length *int64
	Step   *int64
	Low    *int64
	High   *int64
}

// FieldError says which field is wrong and why; each reader adds where the
// field came from (`parameter "length": …`, `FILE:LINE: length: …`,
// `--length: …`).
type FieldError struct {
	Field string // "scheme", "realm", "length", "step", "low" or "high"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Warning is a given field that Apply ignored, and why.
type Warning struct {
	Field string
	Msg   string
}

func (w Warning) String() string { return w.Field + " " + w.Msg }

// Apply sets the given fields over def, with the rules every reader shares:
//   - a scheme other than def's starts from that scheme's defaults (so a
//     length meant for v2 never leaks into v3); def's own scheme keeps def,
//     a v3 def with its realm;
//   - a realm needs scheme v3 and must pass CheckRealm;
//   - length is MinLength..MaxLength for v2, MinLengthV3..MaxLengthV3 for
//     v3 and fixed for hyp, as is step (MinStep..MaxStep, hyp fixed);
//   - low and high are ports, ignored with a warning for hyp (whose ports
//     span the whole range), and high must not be below low;
//   - the result passes Validate.
//
// An error about one field is a *FieldError; the final Validate's error
// (about def itself, say a v3 def with a bad realm) is returned as it is.
func (f Fields) Apply(def Params) (Params, []Warning, error) {
	p := def
	if f.Scheme != nil {
		s, err := ParseScheme(string(*f.Scheme))
		if err != nil {
			return def, nil, &FieldError{Field: "scheme", Msg: err.Error()}
		}
		if s != def.Scheme {
			p = DefaultsFor(s)
		}
	}
	if f.Realm != nil {
		// A realm never changes the scheme by itself: a v2 knock with a
		// realm would be a sequence no v2 gateway accepts.
		if p.Scheme != V3 {
			return def, nil, &FieldError{Field: "realm", Msg: fmt.Sprintf("needs scheme v3 (the scheme is %s)", p.Scheme)}
		}
		if err := CheckRealm(*f.Realm); err != nil {
			return def, nil, &FieldError{Field: "realm", Msg: err.Error()}
		}
		p.Realm = *f.Realm
	}
	if f.Length != nil {
		lo, hi := int64(MinLength), int64(MaxLength)
		switch p.Scheme {
		case V3:
			lo, hi = MinLengthV3, MaxLengthV3
		case Hyp:
			lo, hi = hypLength, hypLength
		}
		if err := inRange("length", *f.Length, lo, hi, p.Scheme, ""); err != nil {
			return def, nil, err
		}
		p.Length = int(*f.Length)
	}
	if f.Step != nil {
		lo, hi := int64(MinStep), int64(MaxStep)
		if p.Scheme == Hyp {
			lo, hi = hypStep, hypStep
		}
		if err := inRange("step", *f.Step, lo, hi, p.Scheme, " seconds"); err != nil {
			return def, nil, err
		}
		p.Step = *f.Step
	}
	var warnings []Warning
	for _, port := range []struct {
		name string
		v    *int64
		set  *uint16
	}{{"low", f.Low, &p.Low}, {"high", f.High, &p.High}} {
		switch {
		case port.v == nil:
		case p.Scheme == Hyp:
			warnings = append(warnings, Warning{Field: port.name, Msg: "ignored: scheme hyp has a fixed port range"})
		case *port.v < 1 || *port.v > 65535:
			return def, nil, &FieldError{Field: port.name, Msg: fmt.Sprintf("must be a port 1..65535, got %d", *port.v)}
		default:
			*port.set = uint16(*port.v)
		}
	}
	if p.Scheme != Hyp && (f.Low != nil || f.High != nil) && p.High < p.Low {
		return def, nil, &FieldError{Field: "high", Msg: fmt.Sprintf("must not be below low (%d), got %d", p.Low, p.High)}
	}
	if err := p.Validate(); err != nil {
		return def, nil, err
	}
	return p, warnings, nil
}

// inRange checks a field against lo..hi, a fixed value when lo == hi;
// unit follows the range ("1..3600 seconds").
func inRange(name string, n, lo, hi int64, s Scheme, unit string) error {
	switch {
	case n >= lo && n <= hi:
		return nil
	case lo == hi:
		return &FieldError{Field: name, Msg: fmt.Sprintf("must be %d for scheme %s, got %d", lo, s, n)}
	case s == V3 && name == "length":
		return &FieldError{Field: name, Msg: fmt.Sprintf("must be %d..%d for scheme v3, got %d", lo, hi, n)}
	}
	return &FieldError{Field: name, Msg: fmt.Sprintf("must be %d..%d%s, got %d", lo, hi, unit, n)}
}

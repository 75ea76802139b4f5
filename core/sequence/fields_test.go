package sequence_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hideyourports/hyp/core/sequence"
)

func TestFieldsApply(t *testing.T) {
	v2, v3, hyp, bad := sequence.V2, sequence.V3, sequence.Hyp, sequence.Scheme("v9")
	v3gw := sequence.V3Defaults("gw")
	custom := sequence.Defaults()
	custom.Length = 6
	for _, tc := range []struct {
		name     string
		f        sequence.Fields
		def      sequence.Params
		want     sequence.Params
		warnings []sequence.Warning
		field    string // the FieldError's Field; "" for no error
		err      string
	}{
		{name: "nothing given keeps def", def: custom, want: custom},
		{name: "def's own scheme keeps def", f: sequence.Fields{Scheme: &v2}, def: custom, want: custom},
		{name: "scheme is read in any case", f: sequence.Fields{Scheme: new(sequence.Scheme("V3"))}, def: sequence.Defaults(), want: sequence.V3Defaults("")},
		{name: "another scheme starts from its defaults", f: sequence.Fields{Scheme: &v3}, def: custom, want: sequence.V3Defaults("")},
		{name: "v3 keeps def's realm", f: sequence.Fields{Scheme: &v3}, def: v3gw, want: v3gw},
		{name: "v3 realm given", f: sequence.Fields{Scheme: &v3, Realm: new("x")}, def: v3gw, want: sequence.V3Defaults("x")},
		{name: "empty realm is a realm", f: sequence.Fields{Realm: new("")}, def: v3gw, want: sequence.V3Defaults("")},
		{name: "hyp", f: sequence.Fields{Scheme: &hyp}, def: v3gw, want: sequence.HypDefaults()},
		{name: "unknown scheme", f: sequence.Fields{Scheme: &bad}, def: custom, field: "scheme", err: `scheme: unknown scheme "v9" (want v2, v3 or hyp)`},
		{name: "realm needs v3", f: sequence.Fields{Realm: new("x")}, def: custom, field: "realm", err: "realm: needs scheme v3 (the scheme is v2)"},
		{name: "realm and v2 scheme", f: sequence.Fields{Scheme: &v2, Realm: new("x")}, def: v3gw, field: "realm", err: "realm: needs scheme v3 (the scheme is v2)"},
		{name: "realm with a control character", f: sequence.Fields{Realm: new("a\nb")}, def: v3gw, field: "realm", err: "realm: realm has a control character at byte 1"},
		{name: "v2 length", f: sequence.Fields{Length: new(int64(32))}, def: sequence.Defaults(), want: with(sequence.Defaults(), func(p *sequence.Params) { p.Length = 32 })},
		{name: "v2 length too long", f: sequence.Fields{Length: new(int64(33))}, def: sequence.Defaults(), field: "length", err: "length: must be 2..32, got 33"},
		{name: "v2 length too short", f: sequence.Fields{Length: new(int64(1))}, def: sequence.Defaults(), field: "length", err: "length: must be 2..32, got 1"},
		{name: "v3 length 1", f: sequence.Fields{Scheme: &v3, Length: new(int64(1))}, def: sequence.Defaults(), want: with(sequence.V3Defaults(""), func(p *sequence.Params) { p.Length = 1 })},
		{name: "v3 length 9", f: sequence.Fields{Scheme: &v3, Length: new(int64(9))}, def: sequence.Defaults(), field: "length", err: "length: must be 1..8 for scheme v3, got 9"},
		{name: "hyp length is fixed", f: sequence.Fields{Scheme: &hyp, Length: new(int64(8))}, def: sequence.Defaults(), field: "length", err: "length: must be 4 for scheme hyp, got 8"},
		{name: "hyp length 4", f: sequence.Fields{Scheme: &hyp, Length: new(int64(4)), Step: new(int64(30))}, def: sequence.Defaults(), want: sequence.HypDefaults()},
		{name: "step", f: sequence.Fields{Step: new(int64(3600))}, def: sequence.Defaults(), want: with(sequence.Defaults(), func(p *sequence.Params) { p.Step = 3600 })},
		{name: "step 0", f: sequence.Fields{Step: new(int64(0))}, def: sequence.Defaults(), field: "step", err: "step: must be 1..3600 seconds, got 0"},
		{name: "hyp step is fixed", f: sequence.Fields{Scheme: &hyp, Step: new(int64(60))}, def: sequence.Defaults(), field: "step", err: "step: must be 30 for scheme hyp, got 60"},
		{name: "low and high", f: sequence.Fields{Low: new(int64(2000)), High: new(int64(3000))}, def: sequence.Defaults(), want: with(sequence.Defaults(), func(p *sequence.Params) { p.Low, p.High = 2000, 3000 })},
		{name: "low 0", f: sequence.Fields{Low: new(int64(0))}, def: sequence.Defaults(), field: "low", err: "low: must be a port 1..65535, got 0"},
		{name: "high 70000", f: sequence.Fields{High: new(int64(70000))}, def: sequence.Defaults(), field: "high", err: "high: must be a port 1..65535, got 70000"},
		{name: "high below low", f: sequence.Fields{Low: new(int64(5000)), High: new(int64(4000))}, def: sequence.Defaults(), field: "high", err: "high: must not be below low (5000), got 4000"},
		{name: "low above def's high", f: sequence.Fields{Low: new(int64(5000))}, def: with(sequence.Defaults(), func(p *sequence.Params) { p.High = 4000 }), field: "high", err: "high: must not be below low (5000), got 4000"},
		{name: "hyp ignores low and high", f: sequence.Fields{Scheme: &hyp, Low: new(int64(0)), High: new(int64(2))}, def: sequence.Defaults(), want: sequence.HypDefaults(),
			warnings: []sequence.Warning{{Field: "low", Msg: "ignored: scheme hyp has a fixed port range"}, {Field: "high", Msg: "ignored: scheme hyp has a fixed port range"}}},
		{name: "a bad def fails Validate", def: sequence.V3Defaults("a\x00"), err: "realm has a control character at byte 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings, err := tc.f.Apply(tc.def)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Apply = %+v, %v; want error %q", got, err, tc.err)
				}
				var fe *sequence.FieldError
				if errors.As(err, &fe) != (tc.field != "") || (fe != nil && fe.Field != tc.field) {
					t.Fatalf("error %#v: want a FieldError for %q", err, tc.field)
				}
				if got != tc.def {
					t.Errorf("on error Apply returned %+v, want def %+v", got, tc.def)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got != tc.want {
				t.Errorf("Apply = %+v, want %+v", got, tc.want)
			}
			if !reflect.DeepEqual(warnings, tc.warnings) {
				t.Errorf("warnings = %v, want %v", warnings, tc.warnings)
			}
		})
	}
}

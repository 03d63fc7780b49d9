package plans

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestEncodeMatchesJSON holds encodeFile to encoding/json, byte for byte,
// on files that set every field (filled by reflection, so that a field
// added to a plan type and not to encode.go fails here), leave every field
// empty, and mix nil and empty lists and strings that need escaping.
func TestEncodeMatchesJSON(t *testing.T) {
	full := &File{}
	fill(reflect.ValueOf(full).Elem(), 0)
	odd := &File{
		FormatVersion: FormatVersion, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)),
		HostDigests: map[string]string{"b<&>": "é", "a\"\\": "\u2028\x01", "": ""},
		Variables:   map[string]json.RawMessage{"v": json.RawMessage(` { "a" : [ 1 , "<x>" ] } `)},
		Plan: &Plan{
			Rollouts: []*Rollout{nil, {Name: "r", Components: []string{}, Waves: []*Wave{nil, {
				Hosts:  []*HostVisit{nil, {Host: "h\xff", Changes: []Change{}, Moves: []Move{}, Verify: []string{}}},
				Notify: []Notification{{Projects: []string{}}},
				Checks: []string{},
			}}}},
			Preflight: []string{},
			Warnings:  []string{"host <x> is down & \"gone\"\n"},
		},
	}
	cases := map[string]*File{
		"every field set":  full,
		"every field zero": {},
		"empty plan":       {Plan: &Plan{}},
		"odd values":       odd,
		"sample":           sample(),
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			var want, got bytes.Buffer
			if err := json.NewEncoder(&want).Encode(f); err != nil {
				t.Fatal(err)
			}
			if err := encodeFile(&got, f); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want.Bytes(), got.Bytes()) {
				t.Errorf("encodeFile differs from encoding/json\n got: %s\nwant: %s", got.Bytes(), want.Bytes())
			}
		})
	}
}

// TestEncodeStringBytes holds the string encoding to encoding/json for
// every byte value, escaped or copied.
func TestEncodeStringBytes(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := "a" + string([]byte{byte(c)}) + "b"
		want, _ := json.Marshal(s)
		e := &encoder{}
		e.str(s)
		if !bytes.Equal(e.b, want) {
			t.Errorf("byte %#x: got %s, want %s", c, e.b, want)
		}
	}
}

// TestEncodeLarge checks a plan larger than the encoder's buffer, which
// it writes out in several pieces.
func TestEncodeLarge(t *testing.T) {
	f := sample()
	w := f.Plan.Rollouts[0].Waves[0]
	for i := 0; i < 20000; i++ {
		hv := *w.Hosts[0]
		hv.Host = "host-" + time.Duration(i).String()
		w.Hosts = append(w.Hosts, &hv)
	}
	var want, got bytes.Buffer
	if err := json.NewEncoder(&want).Encode(f); err != nil {
		t.Fatal(err)
	}
	if err := encodeFile(&got, f); err != nil {
		t.Fatal(err)
	}
	if want.Len() < 1<<20 {
		t.Fatalf("only %d bytes: too small to need several writes", want.Len())
	}
	if !bytes.Equal(want.Bytes(), got.Bytes()) {
		t.Error("encodeFile differs from encoding/json on a large plan")
	}
}

// fill sets every field of v, recursively, to a value that is not its
// zero value, so that omitempty fields are written.
func fill(v reflect.Value, depth int) {
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 11, 22, 8, 0, 0, 123, time.UTC)))
		return
	case reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage(`{"k": [1, 2, "<&>"]}`)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s-" + v.Type().Name() + "-<é>")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(7 + depth))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"b", "a"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, depth+1)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	default:
		panic("fill: no value for kind " + v.Kind().String())
	}
}

package expect

import (
	"testing"
)

// FuzzParsePath: the parser must never panic, and a parsed path's
// canonical form must parse back to the same path and look up the same
// value.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"$", "$.a.b[0].c", "a.b[0]", "$[2]", "$.items[-1]", `$."key with.dot"`,
		`$['raw']`, `$["a\"b"]`, "a..b", "$[", `$."`, "$[-0]", `$["\u00e9"]`, "[1][2][3]",
	} {
		f.Add(s)
	}
	doc, err := DecodeJSON([]byte(`{"a": {"b": [{"c": 1}, 2]}, "items": [1, 2, 3], "key with.dot": "x", "": [[0]]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if _, ok := err.(*PathError); !ok {
				t.Fatalf("ParsePath(%q) error %T, want *PathError", s, err)
			}
			if pe := err.(*PathError); pe.Offset < 0 || pe.Offset > len(s) {
				t.Fatalf("ParsePath(%q) offset %d outside the path", s, pe.Offset)
			}
			return
		}
		canon := p.String()
		q, err := ParsePath(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if q.String() != canon {
			t.Fatalf("canonical form %q of %q reads back as %q", canon, s, q.String())
		}
		v1, err1 := p.Lookup(doc)
		v2, err2 := q.Lookup(doc)
		if (err1 == nil) != (err2 == nil) || !Equal(v1, v2) {
			t.Fatalf("%q and its canonical form %q look up differently: %v/%v, %v/%v", s, canon, Format(v1), err1, Format(v2), err2)
		}
	})
}

// FuzzJSONValues: any JSON document equals itself, decoded twice, and
// Format and Value survive it.
func FuzzJSONValues(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5, "x", null, true]}`, `1e400`, `-0`, `[[[[]]]]`, `{"":{"":0.1}}`, `123456789012345678901234567890`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := DecodeJSON([]byte(s))
		if err != nil {
			return
		}
		b, _ := DecodeJSON([]byte(s))
		if !Equal(a, b) {
			t.Fatalf("%q is not equal to itself: %s", s, Value("doc", a, b))
		}
		_ = Format(a)
		_ = Value("doc", a, []any{a})
	})
}

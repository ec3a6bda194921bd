package expect

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		path, canonical string
	}{
		{"$", "$"},
		{"$.a.b[0].c", "$.a.b[0].c"},
		{"a.b[0]", "$.a.b[0]"},
		{"a", "$.a"},
		{".a", "$.a"},
		{"[2]", "$[2]"},
		{"$[2]", "$[2]"},
		{"$.items[-1]", "$.items[-1]"},
		{`$."key with.dot"`, `$["key with.dot"]`},
		{`$.'raw \ key'`, `$["raw \\ key"]`},
		{`"quoted".x`, `$.quoted.x`},
		{`$["user"]["id"]`, "$.user.id"},
		{`$['a.b'][0]`, `$["a.b"][0]`},
		{`$."say \"hi\""`, `$["say \"hi\""]`},
		{`$[""]`, `$[""]`},
		{"$.snake_case-and-dash09", "$.snake_case-and-dash09"},
		{"$[007]", "$[7]"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p, err := ParsePath(tc.path)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tc.path, err)
			}
			if got := p.String(); got != tc.canonical {
				t.Errorf("ParsePath(%q).String() = %s, want %s", tc.path, got, tc.canonical)
			}
			again, err := ParsePath(p.String())
			if err != nil || again.String() != p.String() {
				t.Errorf("canonical %s does not read back: %v, %v", p, again, err)
			}
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	for _, tc := range []struct {
		path   string
		msg    string
		offset int
	}{
		{"", `JSON path "": empty path (use "$" for the whole document)`, 0},
		{"a..b", `JSON path "a..b": unexpected "." after '.' (quote such keys: ."key")`, 2},
		{"a.", `JSON path "a.": missing key after '.'`, 2},
		{"$x", `JSON path "$x": unexpected "x": want .key, [index] or ["key"]`, 1},
		{"a b", `JSON path "a b": unexpected " ": want .key, [index] or ["key"]`, 1},
		{"@a", `JSON path "@a": unexpected "@": want .key, [index] or ["key"]`, 0},
		{"$.é", `JSON path "$.é": unexpected "é" after '.' (quote such keys: ."key")`, 2},
		{"$[x]", `JSON path "$[x]": [x]: want an integer index or a quoted key`, 2},
		{"$[]", `JSON path "$[]": []: want an integer index or a quoted key`, 2},
		{"$[+1]", `JSON path "$[+1]": [+1]: want an integer index or a quoted key`, 2},
		{"$[ 1]", `JSON path "$[ 1]": [ 1]: want an integer index or a quoted key`, 2},
		{"$[1", `JSON path "$[1": unterminated [`, 1},
		{"$[99999999999999999999]", `JSON path "$[99999999999999999999]": [99999999999999999999]: index out of range`, 2},
		{`$["a"`, `JSON path "$[\"a\"": missing ] after quoted key`, 5},
		{`$["a]`, `JSON path "$[\"a]": unterminated or malformed quoted key`, 2},
		{`$.'a`, `JSON path "$.'a": unterminated quoted key`, 2},
		{`$."\q"`, `JSON path "$.\"\\q\"": unterminated or malformed quoted key`, 2},
		{`a["x"]b`, `JSON path "a[\"x\"]b": unexpected "b": want .key, [index] or ["key"]`, 6},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, err := ParsePath(tc.path)
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("ParsePath(%q) = %v, want a *PathError", tc.path, err)
			}
			if err.Error() != tc.msg {
				t.Errorf("error %s\n want %s", err, tc.msg)
			}
			if pe.Offset != tc.offset {
				t.Errorf("offset %d, want %d", pe.Offset, tc.offset)
			}
		})
	}
}

func TestParseSegments(t *testing.T) {
	for _, tc := range []struct {
		segs, canonical string
		elems           []PathElem
	}{
		{"", "$", nil},
		{".items[0]", "$.items[0]", []PathElem{{Key: "items"}, {Index: 0, IsIndex: true}}},
		{`[2]["user id"]`, `$[2]["user id"]`, []PathElem{{Index: 2, IsIndex: true}, {Key: "user id"}}},
		{`[-1]."a.b"`, `$[-1]["a.b"]`, []PathElem{{Index: -1, IsIndex: true}, {Key: "a.b"}}},
	} {
		p, err := ParseSegments(tc.segs)
		if err != nil {
			t.Errorf("ParseSegments(%q): %v", tc.segs, err)
			continue
		}
		if p.String() != tc.canonical || !slices.Equal(p.Elems(), tc.elems) {
			t.Errorf("ParseSegments(%q) = %s %v, want %s %v", tc.segs, p, p.Elems(), tc.canonical, tc.elems)
		}
	}
	// Unlike a path, segments take no "$" and no leading name.
	for segs, want := range map[string]string{
		"$":       `JSON path "$": unexpected "$": want .key, [index] or ["key"]`,
		"a.b":     `JSON path "a.b": unexpected "a": want .key, [index] or ["key"]`,
		`"a"`:     `JSON path "\"a\"": unexpected "\"": want .key, [index] or ["key"]`,
		".":       `JSON path ".": missing key after '.'`,
		"[0]x":    `JSON path "[0]x": unexpected "x": want .key, [index] or ["key"]`,
		"[0][1](": `JSON path "[0][1](": unexpected "(": want .key, [index] or ["key"]`,
	} {
		_, err := ParseSegments(segs)
		var pe *PathError
		if !errors.As(err, &pe) || err.Error() != want || pe.Path != segs {
			t.Errorf("ParseSegments(%q) error = %v, want %s", segs, err, want)
		}
	}
}

func TestElemsIsACopy(t *testing.T) {
	p, err := ParsePath("a.b")
	if err != nil {
		t.Fatal(err)
	}
	p.Elems()[0].Key = "x"
	if p.String() != "$.a.b" {
		t.Errorf("changing Elems() changed the path to %s", p)
	}
}

func TestJSONPath(t *testing.T) {
	doc, err := DecodeJSON([]byte(`{
		"user": {"name": "ada", "id": 7, "tags": ["a", "b", "c"]},
		"key with.dot": true,
		"items": [{"n": 1}, {"n": 2}],
		"nothing": null
	}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want any
		err  string
	}{
		{path: "$", want: doc},
		{path: "$.user.name", want: "ada"},
		{path: "user.id", want: json.Number("7")},
		{path: "$.user.tags[0]", want: "a"},
		{path: "$.user.tags[-1]", want: "c"},
		{path: "$.user.tags[-3]", want: "a"},
		{path: `$."key with.dot"`, want: true},
		{path: "$.items[1].n", want: json.Number("2")},
		{path: "$.nothing", want: nil},
		{path: "$.user.email", err: `$.user has no key "email"`},
		{path: "$.user.tags[3]", err: "$.user.tags has 3 elements, no index 3"},
		{path: "$.user.tags[-4]", err: "$.user.tags has 3 elements, no index -4"},
		{path: "$.user.name.first", err: "$.user.name is a string, not an object"},
		{path: "$.user[0]", err: "$.user is an object, not an array"},
		{path: "$.nothing.x", err: "$.nothing is null, not an object"},
		{path: "$.user.id[0]", err: "$.user.id is a number, not an array"},
		{path: `$["key with.dot"].x`, err: `$["key with.dot"] is a boolean, not an object`},
		{path: "a..b", err: `JSON path "a..b": unexpected "." after '.' (quote such keys: ."key")`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, err := JSONPath(doc, tc.path)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("JSONPath(%q) error = %v, want %s", tc.path, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("JSONPath(%q): %v", tc.path, err)
			}
			if !Equal(tc.want, got) {
				t.Errorf("JSONPath(%q) = %s, want %s", tc.path, Format(got), Format(tc.want))
			}
		})
	}
}

func TestJSONPathOnGoValues(t *testing.T) {
	rows := [][]any{{int32(1), "ada"}, {int32(2), "bob"}}
	reply := []any{"a", map[any]any{"f": int64(3)}}
	type label string
	for _, tc := range []struct {
		doc  any
		path string
		want any
		err  string
	}{
		{doc: rows, path: "[1][1]", want: "bob"},
		{doc: rows, path: "$[0][0]", want: int32(1)},
		{doc: rows, path: "[2][0]", err: "$ has 2 elements, no index 2"},
		{doc: reply, path: "[1].f", want: int64(3)},
		{doc: map[label]int{"x": 1}, path: "x", want: 1},
		{doc: [2]string{"p", "q"}, path: "[-1]", want: "q"},
		{doc: []byte("ab"), path: "[0]", err: "$ is bytes, not an array"},
		{doc: map[int]int{1: 1}, path: "a", err: `$ has no key "a"`},
		{doc: []any{}, path: "[0]", err: "$ has 0 elements, no index 0"},
		{doc: []any{1}, path: "[1]", err: "$ has 1 element, no index 1"},
	} {
		got, err := JSONPath(tc.doc, tc.path)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("JSONPath(%#v, %q) error = %v, want %s", tc.doc, tc.path, err, tc.err)
			}
			continue
		}
		if err != nil || !Equal(tc.want, got) {
			t.Errorf("JSONPath(%#v, %q) = %s, %v; want %s", tc.doc, tc.path, Format(got), err, Format(tc.want))
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	v, err := DecodeJSON([]byte(" {\"big\": 12345678901234567890123, \"f\": 0.1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := JSONPath(v, "big"); got != json.Number("12345678901234567890123") {
		t.Errorf("big number decoded as %#v, want the exact json.Number", got)
	}
	for in, want := range map[string]string{
		"":        "no JSON value (empty input)",
		"{} {}":   "unexpected data after the JSON value (offset 2)",
		"[1] x":   "unexpected data after the JSON value (offset 3)",
		"{":       "unexpected EOF",
		"hello\n": "invalid character 'h' looking for beginning of value",
	} {
		if _, err := DecodeJSON([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("DecodeJSON(%q) error = %v, want %s", in, err, want)
		}
	}
}

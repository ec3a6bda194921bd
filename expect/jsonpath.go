package expect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Path is a parsed JSON path. Its grammar:
//
//	path    = [ "$" ] [ name | quoted ] { segment }
//	segment = "." name | "." quoted | "[" index "]" | "[" quoted "]"
//	name    = one or more of A-Z a-z 0-9 _ -
//	quoted  = a double-quoted Go string ("a \"b\"") or a single-quoted
//	          raw string ('a.b')
//	index   = [ "-" ] digits                (negative counts from the end)
//
// "$" is the whole document; "user.id", "$.user.id", `$."user".id` and
// `$["user"]["id"]` are one path; "items[-1]" is the last item; keys with
// other characters are quoted: `$."key with.dot"`.
type Path struct {
	text  string
	elems []PathElem
}

// PathElem is one step of a path: an object key, or an array index when
// IsIndex.
type PathElem struct {
	Key     string
	Index   int
	IsIndex bool
}

// Elems returns the steps of the path, first to last; "$" has none.
func (p Path) Elems() []PathElem { return slices.Clone(p.elems) }

// PathError reports a JSON path that does not parse.
type PathError struct {
	Path   string // as written
	Offset int    // byte offset in Path where the problem is
	Msg    string
}

// Error renders `JSON path "a..b": <what is wrong>`.
func (e *PathError) Error() string { return fmt.Sprintf("JSON path %q: %s", e.Path, e.Msg) }

// ParsePath parses a JSON path, for validation before anything runs; the
// error is a *PathError.
func ParsePath(s string) (Path, error) {
	p := Path{text: s}
	if s == "" {
		return p, &PathError{Path: s, Msg: `empty path (use "$" for the whole document)`}
	}
	i := 0
	if s[0] == '$' {
		i = 1
	} else if !isNameChar(s[0]) && s[0] != '"' && s[0] != '\'' && s[0] != '.' && s[0] != '[' {
		return p, &PathError{Path: s, Msg: fmt.Sprintf("unexpected %q: want .key, [index] or [\"key\"]", firstChar(s))}
	} else if s[0] != '.' && s[0] != '[' {
		// A leading name or quoted key without its dot: "user.id".
		n, elem, msg := parseDotted(s, 0)
		if msg != "" {
			return p, &PathError{Path: s, Offset: n, Msg: msg}
		}
		p.elems = append(p.elems, elem)
		i = n
	}
	err := p.parseSegments(i)
	return p, err
}

// ParseSegments parses the segments of a path alone, { segment } in the
// grammar of Path, for paths that follow a prefix of their own, like the
// ".items[0]" of a capture "json.items[0]": there is no "$" and no leading
// name, and "" is the whole document. The error is a *PathError whose Path
// is s.
func ParseSegments(s string) (Path, error) {
	p := Path{text: s}
	err := p.parseSegments(0)
	return p, err
}

// parseSegments parses { segment } from p.text[i:] into p.elems.
func (p *Path) parseSegments(i int) error {
	s := p.text
	for i < len(s) {
		var (
			n    int
			elem PathElem
			msg  string
		)
		switch s[i] {
		case '.':
			if i+1 == len(s) {
				return &PathError{Path: s, Offset: i + 1, Msg: "missing key after '.'"}
			}
			n, elem, msg = parseDotted(s, i+1)
		case '[':
			n, elem, msg = parseBracket(s, i)
		default:
			n, msg = i, fmt.Sprintf("unexpected %q: want .key, [index] or [\"key\"]", firstChar(s[i:]))
		}
		if msg != "" {
			return &PathError{Path: s, Offset: n, Msg: msg}
		}
		p.elems = append(p.elems, elem)
		i = n
	}
	return nil
}

// parseDotted parses a name or a quoted key at s[i:], returning where it
// ends or, with a message, where the problem is.
func parseDotted(s string, i int) (int, PathElem, string) {
	if s[i] == '"' || s[i] == '\'' {
		return parseQuoted(s, i)
	}
	n := i
	for n < len(s) && isNameChar(s[n]) {
		n++
	}
	if n == i {
		return i, PathElem{}, fmt.Sprintf("unexpected %q after '.' (quote such keys: .\"key\")", firstChar(s[i:]))
	}
	return n, PathElem{Key: s[i:n]}, ""
}

// parseQuoted parses a quoted key at s[i:].
func parseQuoted(s string, i int) (int, PathElem, string) {
	if s[i] == '\'' {
		end := strings.IndexByte(s[i+1:], '\'')
		if end < 0 {
			return i, PathElem{}, "unterminated quoted key"
		}
		return i + 1 + end + 1, PathElem{Key: s[i+1 : i+1+end]}, ""
	}
	raw, err := strconv.QuotedPrefix(s[i:])
	if err != nil {
		return i, PathElem{}, "unterminated or malformed quoted key"
	}
	key, err := strconv.Unquote(raw)
	if err != nil {
		return i, PathElem{}, "malformed quoted key " + raw
	}
	return i + len(raw), PathElem{Key: key}, ""
}

// parseBracket parses "[index]" or "[quoted]" at s[i:].
func parseBracket(s string, i int) (int, PathElem, string) {
	if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\'') {
		n, elem, msg := parseQuoted(s, i+1)
		if msg != "" {
			return n, elem, msg
		}
		if n >= len(s) || s[n] != ']' {
			return n, elem, "missing ] after quoted key"
		}
		return n + 1, elem, ""
	}
	end := strings.IndexByte(s[i:], ']')
	if end < 0 {
		return i, PathElem{}, "unterminated ["
	}
	text := s[i+1 : i+end]
	digits := strings.TrimPrefix(text, "-")
	if !isDigits(digits) {
		return i + 1, PathElem{}, fmt.Sprintf("[%s]: want an integer index or a quoted key", text)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return i + 1, PathElem{}, fmt.Sprintf("[%s]: index out of range", text)
	}
	return i + end + 1, PathElem{Index: n, IsIndex: true}, ""
}

// firstChar is the first character of s, whole even when it takes several
// bytes.
func firstChar(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}

func isNameChar(c byte) bool {
	return c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// String returns the path in canonical form: "$", then .name for plain
// keys, ["…"] for other keys and [i] for indexes. ParsePath reads it back
// to the same path.
func (p Path) String() string {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range p.elems {
		b.WriteString(e.String())
	}
	return b.String()
}

func (e PathElem) String() string {
	if e.IsIndex {
		return "[" + strconv.Itoa(e.Index) + "]"
	}
	return keyElem(e.Key)
}

// keyElem renders an object key as a path segment.
func keyElem(k string) string {
	if k == "" {
		return `[""]`
	}
	for i := 0; i < len(k); i++ {
		if !isNameChar(k[i]) {
			return "[" + strconv.Quote(k) + "]"
		}
	}
	return "." + k
}

// Lookup returns the value at the path in doc: a document from DecodeJSON
// or encoding/json (map[string]any, []any, scalars), or any Go value made
// of maps with string keys, slices and arrays, such as SQL rows ([][]any)
// or a go-redis reply. The error says where the path left the document:
// `$.user has no key "name"`, `$.items has 2 elements, no index 5`,
// `$.user is a string, not an object`.
func (p Path) Lookup(doc any) (any, error) {
	v := doc
	at := "$"
	for _, e := range p.elems {
		var err error
		if e.IsIndex {
			v, err = index(v, e.Index, at)
		} else {
			v, err = member(v, e.Key, at)
		}
		if err != nil {
			return nil, err
		}
		at += e.String()
	}
	return v, nil
}

func index(v any, i int, at string) (any, error) {
	var n int
	var get func(int) any
	switch x := v.(type) {
	case []any:
		n, get = len(x), func(i int) any { return x[i] }
	default:
		rv := reflect.ValueOf(v)
		k := rv.Kind()
		if (k != reflect.Slice && k != reflect.Array) || isBytes(v) {
			return nil, fmt.Errorf("%s is %s, not an array", at, describe(v))
		}
		n, get = rv.Len(), func(i int) any { return rv.Index(i).Interface() }
	}
	j := i
	if j < 0 {
		j += n
	}
	if j < 0 || j >= n {
		return nil, fmt.Errorf("%s has %s, no index %d", at, plural(n, "element"), i)
	}
	return get(j), nil
}

func member(v any, key, at string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if e, ok := x[key]; ok {
			return e, nil
		}
		return nil, fmt.Errorf("%s has no key %q", at, key)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map {
		return nil, fmt.Errorf("%s is %s, not an object", at, describe(v))
	}
	if kt := rv.Type().Key(); kt.Kind() == reflect.String {
		if e := rv.MapIndex(reflect.ValueOf(key).Convert(kt)); e.IsValid() {
			return e.Interface(), nil
		}
	} else if kt.Kind() == reflect.Interface {
		// go-redis RESP3 maps are map[any]any with string keys.
		if e := rv.MapIndex(reflect.ValueOf(any(key))); e.IsValid() {
			return e.Interface(), nil
		}
	}
	return nil, fmt.Errorf("%s has no key %q", at, key)
}

func isBytes(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8
}

// describe names the kind of a value for path errors: "a string".
func describe(v any) string {
	// Containers are named without normalizing them, which would copy the
	// whole subtree.
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		if !isBytes(v) {
			return "an array"
		}
	}
	switch n := normalize(v, 0).(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case number:
		return "a number"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return "a " + kindOf(n)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// JSONPath parses path and looks it up in doc: ParsePath then Path.Lookup.
func JSONPath(doc any, path string) (any, error) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	return p.Lookup(doc)
}

// DecodeJSON decodes one JSON document the way expectations and captures
// read outputs: numbers stay json.Number, exact whatever their size, and
// anything but white space after the document is an error.
func DecodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no JSON value (empty input)")
		}
		return nil, err
	}
	end := d.InputOffset()
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("unexpected data after the JSON value (offset %d)", end)
	}
	return v, nil
}

package suite

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// JSONPath selects a value inside a JSON document:
//
//	path    = [ "$" ] [ name ] { segment }
//	segment = "." name | "[" integer "]" | "[" quoted "]"
//	name    = one or more of A-Z a-z 0-9 _ -
//	quoted  = a double-quoted Go string or a single-quoted raw string
//	integer = [ "-" ] digits          (negative counts from the end)
//
// "$" is the whole document; "user.id", "$.user.id" and `$["user"]["id"]`
// are the same path; "items[-1]" is the last item.
type JSONPath struct {
	Text  string // as written
	Elems []PathElem
}

// PathElem is one step of a path: a key of an object, or an index of an
// array when IsIndex.
type PathElem struct {
	Key     string
	Index   int
	IsIndex bool
}

// ParseJSONPath parses a path written with the grammar of JSONPath.
func ParseJSONPath(s string) (JSONPath, error) {
	p := JSONPath{Text: s}
	if s == "" {
		return p, errors.New(`empty JSON path (use "$" for the whole document)`)
	}
	rest := s
	if strings.HasPrefix(rest, "$") {
		rest = rest[1:]
	} else if rest[0] != '.' && rest[0] != '[' {
		// A leading name without its dot: "user.id".
		rest = "." + rest
	}
	elems, err := parseSegments(rest)
	if err != nil {
		return p, fmt.Errorf("JSON path %q: %w", s, err)
	}
	p.Elems = elems
	return p, nil
}

// parseSegments parses { segment }.
func parseSegments(s string) ([]PathElem, error) {
	var elems []PathElem
	for s != "" {
		switch s[0] {
		case '.':
			n := 1
			for n < len(s) && isNameChar(s[n]) {
				n++
			}
			if n == 1 {
				if n < len(s) {
					return nil, fmt.Errorf("unexpected %q after '.' (quote such keys: [\"key\"])", s[n:n+1])
				}
				return nil, errors.New("missing key after '.'")
			}
			elems = append(elems, PathElem{Key: s[1:n]})
			s = s[n:]
		case '[':
			end, elem, err := parseBracket(s)
			if err != nil {
				return nil, err
			}
			elems = append(elems, elem)
			s = s[end:]
		default:
			return nil, fmt.Errorf("unexpected %q: want .key, [index] or [\"key\"]", s[:1])
		}
	}
	return elems, nil
}

func isNameChar(c byte) bool {
	return c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// parseBracket parses "[...]" at the start of s and returns the length it
// used.
func parseBracket(s string) (int, PathElem, error) {
	if len(s) < 2 {
		return 0, PathElem{}, errors.New("unterminated [")
	}
	switch q := s[1]; q {
	case '"', '\'':
		// Find the closing quote, honouring escapes in "…".
		i := 2
		for i < len(s) && s[i] != q {
			if q == '"' && s[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(s) {
			return 0, PathElem{}, errors.New("unterminated quoted key")
		}
		raw := s[1 : i+1]
		key := raw[1 : len(raw)-1]
		if q == '"' {
			var err error
			if key, err = strconv.Unquote(raw); err != nil {
				return 0, PathElem{}, fmt.Errorf("bad quoted key %s", raw)
			}
		}
		if i+1 >= len(s) || s[i+1] != ']' {
			return 0, PathElem{}, errors.New("missing ] after quoted key")
		}
		return i + 2, PathElem{Key: key}, nil
	default:
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return 0, PathElem{}, errors.New("unterminated [")
		}
		n, err := strconv.Atoi(s[1:end])
		if err != nil || strings.ContainsAny(s[1:end], "+ ") {
			return 0, PathElem{}, fmt.Errorf("[%s]: want an integer index or a quoted key", s[1:end])
		}
		return end + 1, PathElem{Index: n, IsIndex: true}, nil
	}
}

// String returns the path in its canonical form, "$.a[0]".
func (p JSONPath) String() string {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range p.Elems {
		b.WriteString(e.String())
	}
	return b.String()
}

func (e PathElem) String() string {
	if e.IsIndex {
		return "[" + strconv.Itoa(e.Index) + "]"
	}
	for i := 0; i < len(e.Key); i++ {
		if !isNameChar(e.Key[i]) {
			return "[" + strconv.Quote(e.Key) + "]"
		}
	}
	if e.Key == "" {
		return `[""]`
	}
	return "." + e.Key
}

// Lookup returns the value at the path in v, a document decoded by
// encoding/json (map[string]any, []any and scalars).
func (p JSONPath) Lookup(v any) (any, error) {
	at := "$"
	for _, e := range p.Elems {
		if e.IsIndex {
			arr, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an array", at, jsonKind(v))
			}
			i := e.Index
			if i < 0 {
				i += len(arr)
			}
			if i < 0 || i >= len(arr) {
				return nil, fmt.Errorf("%s has %d elements, no index %d", at, len(arr), e.Index)
			}
			v = arr[i]
		} else {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is %s, not an object", at, jsonKind(v))
			}
			x, ok := obj[e.Key]
			if !ok {
				return nil, fmt.Errorf("%s has no key %q", at, e.Key)
			}
			v = x
		}
		at += e.String()
	}
	return v, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

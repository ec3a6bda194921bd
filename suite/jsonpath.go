package suite

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cleanroomhq/cleanroom/expect"
)

// JSONPath selects a value inside a JSON document. Its grammar is that of
// expect.Path:
//
//	path    = [ "$" ] [ name | quoted ] { segment }
//	segment = "." name | "." quoted | "[" integer "]" | "[" quoted "]"
//	name    = one or more of A-Z a-z 0-9 _ -
//	quoted  = a double-quoted Go string or a single-quoted raw string
//	integer = [ "-" ] digits          (negative counts from the end)
//
// "$" is the whole document; "user.id", "$.user.id" and `$["user"]["id"]`
// are the same path; "items[-1]" is the last item; `$."odd key"` and
// `$["odd key"]` reach keys with other characters. The embedded
// expect.Path gives its steps (Elems), canonical form (String) and Lookup.
type JSONPath struct {
	Text string // as written
	expect.Path
}

// ParseJSONPath parses a path written with the grammar of JSONPath.
func ParseJSONPath(s string) (JSONPath, error) {
	p, err := expect.ParsePath(s)
	if err != nil {
		if s == "" {
			return JSONPath{Text: s}, errors.New(`empty JSON path (use "$" for the whole document)`)
		}
		return JSONPath{Text: s}, fmt.Errorf("JSON path %q: %s", s, pathMsg(err, true))
	}
	return JSONPath{Text: s, Path: p}, nil
}

// parseSegments parses the { segment } of a path that follows a prefix,
// such as a capture's source; its error is the bare message.
func parseSegments(s string) (JSONPath, error) {
	p, err := expect.ParseSegments(s)
	if err != nil {
		return JSONPath{}, errors.New(pathMsg(err, false))
	}
	return JSONPath{Text: s, Path: p}, nil
}

// pathMsg words the problem of a path that does not parse (an
// *expect.PathError) as the suite always has, where that differs from
// expect's wording: an unexpected character is shown as its byte, keys
// with other characters are hinted as ["key"], an index too large is not
// an integer index, and an unterminated quoted key is told from a
// malformed one. whole is for a path that may start with its first key's
// name (ParseJSONPath), where a bad first character reads as a bad key.
func pathMsg(err error, whole bool) string {
	var pe *expect.PathError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	s, at := pe.Path, pe.Offset
	const afterDot = `unexpected %q after '.' (quote such keys: ["key"])`
	switch {
	case strings.HasPrefix(pe.Msg, "unexpected ") && (strings.Contains(pe.Msg, " after '.' ") || whole && at == 0):
		return fmt.Sprintf(afterDot, s[at:at+1])
	case strings.HasPrefix(pe.Msg, "unexpected "):
		return fmt.Sprintf(`unexpected %q: want .key, [index] or ["key"]`, s[at:at+1])
	case strings.HasSuffix(pe.Msg, ": index out of range"):
		return strings.TrimSuffix(pe.Msg, "index out of range") + "want an integer index or a quoted key"
	case strings.HasPrefix(pe.Msg, "malformed quoted key "):
		return "bad quoted key " + strings.TrimPrefix(pe.Msg, "malformed quoted key ")
	case pe.Msg == "unterminated or malformed quoted key":
		// s[at] is the opening '"'; find its closing one past escapes.
		for i := at + 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return "bad quoted key " + s[at:i+1]
			}
		}
		return "unterminated quoted key"
	}
	return pe.Msg
}

package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/cleanroomhq/cleanroom/report"
)

// BytesKey marks bytes that are not valid UTF-8 in canonical text: they
// are written as {"$base64": "<standard base64>"}, as in the JSON report.
const BytesKey = report.BytesKey

// canonical is the JSON report's way of writing values, but for a uuid
// and a nil list or map (see Canonical).
var canonical = report.ValueOptions{UUIDText: true, EmptyNil: true}

// Canonical renders a value a step returned — SQL rows ([][]any of pgx
// values), a Redis reply (string, int64, []any, map), decoded JSON — as
// the text a snapshot stores: JSON indented by two spaces, with object
// keys sorted, ending in a newline (so the entry needs no "no newline"
// marker). The same value always gives the same text:
//
//   - integers are written as they are, at any size (also *big.Int and
//     json.Number, kept as written), never through float64; floats as
//     encoding/json writes them; NaN and ±Inf, which JSON lacks, as the
//     strings "NaN", "+Inf", "-Inf";
//   - strings and []byte as JSON strings, with <, > and & as they are;
//     bytes that are not UTF-8 as {"$base64": …} (BytesKey);
//   - [16]byte, which is how pgx returns a uuid column, as the UUID string;
//     time.Time in RFC 3339 with nanoseconds; time.Duration as Go writes it;
//     errors as their message;
//   - nil, nil pointers and nil interfaces as null, but a nil slice or map
//     as [] or {}, since a query with no rows returned none rather than
//     nothing;
//   - maps as objects; keys that are not strings are written as text, and
//     should two keys read the same they are told apart by " (2)", " (3)"
//     in the order of their values;
//   - values with a MarshalJSON method (pgtype.Numeric, json.RawMessage…)
//     as that method writes them; otherwise by MarshalText, a
//     driver.Valuer's value or String, in that order; other structs
//     through encoding/json.
//
// The work is report.JSONValue's, with UUIDText and EmptyNil.
func Canonical(v any) string {
	return render(canonical.JSONValue(v))
}

// CanonicalJSON re-renders the JSON document b as Canonical does: sorted
// keys, two-space indent, numbers as written. ok is false when b is not
// exactly one JSON value (surrounding white space aside); the caller then
// stores b as text. As with encoding/json, of keys that appear twice in an
// object the last one counts.
func CanonicalJSON(b []byte) (s string, ok bool) {
	v, ok := report.ParseJSONValue(b)
	if !ok {
		return "", false
	}
	return render(v), true
}

func render(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// JSONValue returns only what encoding/json writes; this is a bug,
		// shown rather than hidden.
		return fmt.Sprintf("(cannot render: %v)\n", err)
	}
	return b.String()
}

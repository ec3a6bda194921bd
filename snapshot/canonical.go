package snapshot

import (
	"bytes"
	"cmp"
	"database/sql/driver"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// BytesKey marks bytes that are not valid UTF-8 in canonical text: they
// are written as {"$base64": "<standard base64>"}, as in the JSON report.
const BytesKey = "$base64"

// maxDepth bounds the nesting Canonical follows, so that a value that
// contains itself ends instead of overflowing the stack.
const maxDepth = 64

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
func Canonical(v any) string {
	return render(plain(v, 0))
}

// CanonicalJSON re-renders the JSON document b as Canonical does: sorted
// keys, two-space indent, numbers as written. ok is false when b is not
// exactly one JSON value (surrounding white space aside); the caller then
// stores b as text. As with encoding/json, of keys that appear twice in an
// object the last one counts.
func CanonicalJSON(b []byte) (s string, ok bool) {
	v, ok := decodeJSON(b)
	if !ok {
		return "", false
	}
	return render(plain(v, 0)), true
}

func render(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// plain returns only what encoding/json writes; this is a bug,
		// shown rather than hidden.
		return fmt.Sprintf("(cannot render: %v)\n", err)
	}
	return b.String()
}

// decodeJSON parses one JSON value, keeping numbers as json.Number. Input
// that is not UTF-8 is refused: encoding/json would replace the bad bytes
// and the re-rendered text would no longer say what came.
func decodeJSON(b []byte) (any, bool) {
	if !utf8.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	for _, c := range b[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, false
		}
	}
	return v, true
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	valuer        = reflect.TypeFor[driver.Valuer]()
	stringer      = reflect.TypeFor[fmt.Stringer]()

	jsonNumberRE = regexp.MustCompile(`^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$`)
)

// plain turns v into data encoding/json writes without error and in one
// way only: nil, bool, string, json.Number, []any, map[string]any.
func plain(v any, depth int) any {
	if depth > maxDepth {
		return "(nested too deeply)"
	}
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
	case reflect.Slice:
		if rv.IsNil() && rv.Type().Elem().Kind() != reflect.Uint8 {
			return []any{}
		}
	case reflect.Map:
		if rv.IsNil() {
			return map[string]any{}
		}
	}
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return text(x)
	case []byte:
		return text(string(x))
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case json.Number:
		if jsonNumberRE.MatchString(string(x)) {
			return x
		}
		return text(string(x))
	case float64:
		return float(x, 64)
	case float32:
		return float(float64(x), 32)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	case *big.Int:
		return json.Number(x.String())
	case *big.Float:
		if x.IsInf() {
			return x.String()
		}
		return json.Number(x.Text('g', -1))
	case *big.Rat:
		if x.IsInt() {
			return json.Number(x.Num().String())
		}
		return x.RatString()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e, depth+1)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if !utf8.ValidString(k) {
				return plainMap(rv, depth)
			}
			out[k] = plain(e, depth+1)
		}
		return out
	case error:
		return text(x.Error())
	case json.Marshaler:
		if b, err := x.MarshalJSON(); err == nil {
			if d, ok := decodeJSON(b); ok {
				return plain(d, depth+1)
			}
		}
	case encoding.TextMarshaler:
		if b, err := x.MarshalText(); err == nil {
			return text(string(b))
		}
	case driver.Valuer:
		if d, err := x.Value(); err == nil {
			return plain(d, depth+1)
		}
	case fmt.Stringer:
		return text(x.String())
	}
	return plainReflect(v, rv, depth)
}

func plainReflect(v any, rv reflect.Value, depth int) any {
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return json.Number(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return float(rv.Float(), rv.Type().Bits())
	case reflect.String:
		return text(rv.String())
	case reflect.Pointer, reflect.Interface:
		return plain(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return text(string(b))
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = plain(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		return plainMap(rv, depth)
	case reflect.Struct:
		// Methods with pointer receivers (big.Int, many pgtype types) are
		// not in the method set of a struct stored by value.
		if !hasMethods(rv.Type()) && hasMethods(reflect.PointerTo(rv.Type())) {
			p := reflect.New(rv.Type())
			p.Elem().Set(rv)
			return plain(p.Interface(), depth+1)
		}
		if b, err := json.Marshal(v); err == nil {
			if d, ok := decodeJSON(b); ok {
				return plain(d, depth+1)
			}
		}
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		// Their %v is an address, which differs on every run.
		return fmt.Sprintf("(%s)", rv.Type())
	}
	return text(fmt.Sprintf("%v", v))
}

// plainMap writes a map with keys of any type as an object. Keys that read
// the same once written are told apart in the order of their values, so
// that the result does not depend on map iteration order.
func plainMap(rv reflect.Value, depth int) any {
	type kv struct {
		key   string
		value any
	}
	kvs := make([]kv, 0, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		kvs = append(kvs, kv{keyText(iter.Key().Interface(), depth), plain(iter.Value().Interface(), depth+1)})
	}
	out := make(map[string]any, len(kvs))
	clash := false
	for _, e := range kvs {
		_, clash = out[e.key]
		if clash {
			break
		}
		out[e.key] = e.value
	}
	if !clash {
		return out
	}
	// Rendering values to order them is the price of a clash only.
	slices.SortFunc(kvs, func(a, b kv) int {
		return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(render(a.value), render(b.value)))
	})
	clear(out)
	for _, e := range kvs {
		key := e.key
		for n := 2; ; n++ {
			if _, taken := out[key]; !taken {
				break
			}
			key = fmt.Sprintf("%s (%d)", e.key, n)
		}
		out[key] = e.value
	}
	return out
}

// hasMethods reports whether t has one of the methods plain uses.
func hasMethods(t reflect.Type) bool {
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || t.Implements(valuer) || t.Implements(stringer)
}

// keyText is the object key a map key becomes.
func keyText(k any, depth int) string {
	switch x := plain(k, depth+1).(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(k)
		}
		return string(b)
	}
}

func float(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	var b []byte
	if bits == 32 {
		b, _ = json.Marshal(float32(f))
	} else {
		b, _ = json.Marshal(f)
	}
	return json.Number(b)
}

// text is s as a JSON string, or its bytes in base64 when s is not UTF-8
// (encoding/json would replace them with U+FFFD, losing the difference).
func text(s string) any {
	if utf8.ValidString(s) {
		return s
	}
	return map[string]any{BytesKey: base64.StdEncoding.EncodeToString([]byte(s))}
}

package report

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

// BytesKey marks bytes that are not valid UTF-8 in a JSON report: such a
// value is written as {"$base64": "<standard base64>"}. ReadJSON turns the
// marker back into a []byte.
const BytesKey = "$base64"

// maxDepth bounds the nesting JSONValue follows, so that a cyclic value
// (a map that contains itself) ends instead of overflowing the stack.
const maxDepth = 64

// JSONValue returns v as plain JSON data (nil, bool, string, json.Number,
// []any, map[string]any), so that a value a step returned — an SQL cell,
// a Redis reply — is written exactly and never makes encoding fail:
//
//   - integers of any size (also *big.Int) and finite floats become
//     json.Number, so 2^63-1 is not rounded through float64;
//   - NaN and ±Inf, which JSON cannot hold, become the strings "NaN",
//     "+Inf" and "-Inf";
//   - []byte and strings that are valid UTF-8 become strings; other
//     bytes become {"$base64": "..."} (see BytesKey);
//   - time.Time becomes an RFC 3339 string with nanoseconds, time.Duration
//     its String form;
//   - values with a MarshalJSON method (pgtype.Numeric, …) are written
//     as that method writes them; otherwise MarshalText, driver.Valuer
//     and String are used, in that order;
//   - maps become objects whose keys are strings; should two keys read
//     the same once written (the string "1" and the integer 1) they are
//     told apart by " (2)", " (3)" in the order of their values, so that
//     none is lost and the result does not depend on map order;
//   - other structs go through encoding/json; functions and channels,
//     whose %v is an address, become their type in parentheses; anything
//     else becomes its fmt form.
//
// Applying JSONValue to what ReadJSON returns gives the same data as
// applying it to the original value, which is what "round trip" means for
// values of unknown type. ValueOptions changes a few of these rules.
func JSONValue(v any) any { return ValueOptions{}.JSONValue(v) }

// ValueOptions are the rules in which a snapshot's text differs from the
// JSON report. The zero value is the JSON report's.
type ValueOptions struct {
	// UUIDText writes a [16]byte, which is how pgx returns a uuid column,
	// as the UUID's text ("550e8400-e29b-41d4-a716-446655440000") rather
	// than as bytes.
	UUIDText bool
	// EmptyNil writes a nil slice as [] and a nil map as {} (a nil []byte
	// as ""), rather than null: a query with no rows returned none rather
	// than nothing.
	EmptyNil bool
}

// JSONValue is JSONValue with o's rules.
func (o ValueOptions) JSONValue(v any) any { return o.value(v, 0) }

// ParseJSONValue parses b, one JSON value with white space around it at
// most, as JSONValue data: numbers as json.Number, written as they came. ok
// is false for anything else, and for input that is not UTF-8, which
// encoding/json would quietly alter. Of keys that appear twice in an
// object the last one counts, as with encoding/json.
func ParseJSONValue(b []byte) (v any, ok bool) {
	d, ok := decodeJSON(b)
	if !ok {
		return nil, false
	}
	return ValueOptions{}.value(d, 0), true
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	valuer        = reflect.TypeFor[driver.Valuer]()
	stringer      = reflect.TypeFor[fmt.Stringer]()

	jsonNumberRE = regexp.MustCompile(`^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$`)
)

func (o ValueOptions) value(v any, depth int) any {
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
		if rv.IsNil() {
			switch {
			case !o.EmptyNil:
				return nil
			case rv.Type().Elem().Kind() != reflect.Uint8:
				return []any{}
			}
			// A nil []byte goes on, to be "" (or what its methods say).
		}
	case reflect.Map:
		if rv.IsNil() {
			if o.EmptyNil {
				return map[string]any{}
			}
			return nil
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
		if o.UUIDText {
			return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
		}
	case json.Number:
		// encoding/json fails on a json.Number that is not a number.
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
			out[i] = o.value(e, depth+1)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if !utf8.ValidString(k) {
				return o.mapValue(rv, depth)
			}
			out[k] = o.value(e, depth+1)
		}
		return out
	case error:
		return text(x.Error())
	case json.Marshaler:
		if b, err := x.MarshalJSON(); err == nil {
			if d, ok := decodeJSON(b); ok {
				return o.value(d, depth+1)
			}
		}
	case encoding.TextMarshaler:
		if b, err := x.MarshalText(); err == nil {
			return text(string(b))
		}
	case driver.Valuer:
		if d, err := x.Value(); err == nil {
			return o.value(d, depth+1)
		}
	case fmt.Stringer:
		return text(x.String())
	}
	return o.reflectValue(v, rv, depth)
}

func (o ValueOptions) reflectValue(v any, rv reflect.Value, depth int) any {
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
		return o.value(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return text(string(b))
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = o.value(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		return o.mapValue(rv, depth)
	case reflect.Struct:
		// Methods with pointer receivers (big.Int, many pgtype types) are
		// not in the method set of a struct stored by value.
		if !hasMethods(rv.Type()) && hasMethods(reflect.PointerTo(rv.Type())) {
			p := reflect.New(rv.Type())
			p.Elem().Set(rv)
			return o.value(p.Interface(), depth+1)
		}
		if b, err := json.Marshal(v); err == nil {
			if d, ok := decodeJSON(b); ok {
				return o.value(d, depth+1)
			}
		}
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		// Their %v is an address, which differs on every run.
		return fmt.Sprintf("(%s)", rv.Type())
	}
	return text(fmt.Sprintf("%v", v))
}

// mapValue writes a map with keys of any type as an object. Keys that read
// the same once written are told apart in the order of their values, so
// that the result does not depend on map iteration order.
func (o ValueOptions) mapValue(rv reflect.Value, depth int) any {
	type kv struct {
		key   string
		value any
	}
	kvs := make([]kv, 0, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		kvs = append(kvs, kv{o.keyText(iter.Key().Interface(), depth), o.value(iter.Value().Interface(), depth+1)})
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
		return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(indented(a.value), indented(b.value)))
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

// indented is JSONValue data as JSON indented by two spaces, HTML as is:
// the order of values whose keys read the same.
func indented(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // JSONValue data always encodes
	return b.String()
}

// hasMethods reports whether t has one of the methods JSONValue uses.
func hasMethods(t reflect.Type) bool {
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || t.Implements(valuer) || t.Implements(stringer)
}

// keyText is the object key a map key becomes.
func (o ValueOptions) keyText(k any, depth int) string {
	switch x := o.value(k, depth+1).(type) {
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
	// encoding/json's own formatting, so that a float read back as a
	// json.Number is the same text.
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

// decodeJSON parses one JSON value, keeping numbers as json.Number. Input
// that is not UTF-8 is refused: encoding/json would replace the bad bytes
// and the data would no longer say what came.
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

// restoreBytes turns the {"$base64": ...} markers of decoded JSON data back
// into []byte, in place where it can.
func restoreBytes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if s, ok := x[BytesKey].(string); ok {
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					return b
				}
			}
		}
		for k, e := range x {
			x[k] = restoreBytes(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = restoreBytes(e)
		}
		return x
	}
	return v
}

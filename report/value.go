package report

import (
	"bytes"
	"database/sql/driver"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
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
//   - maps become objects whose keys are strings; other structs go
//     through encoding/json; anything else becomes its fmt form.
//
// Applying JSONValue to what ReadJSON returns gives the same data as
// applying it to the original value, which is what "round trip" means for
// values of unknown type.
func JSONValue(v any) any { return jsonValue(v, 0) }

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	valuer        = reflect.TypeFor[driver.Valuer]()
	stringer      = reflect.TypeFor[fmt.Stringer]()
)

func jsonValue(v any, depth int) any {
	if depth > maxDepth {
		return "(nested too deeply)"
	}
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.IsNil() {
		return nil
	}
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return textValue(x)
	case []byte:
		return bytesValue(x)
	case json.Number:
		if json.Valid([]byte(x)) {
			return x
		}
		return string(x)
	case float64:
		return floatValue(x, 64)
	case float32:
		return floatValue(float64(x), 32)
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
	case error:
		return textValue(x.Error())
	case json.Marshaler:
		if b, err := x.MarshalJSON(); err == nil {
			if d, ok := decodeJSON(b); ok {
				return jsonValue(d, depth+1)
			}
		}
	case encoding.TextMarshaler:
		if b, err := x.MarshalText(); err == nil {
			return textValue(string(b))
		}
	case driver.Valuer:
		if d, err := x.Value(); err == nil {
			return jsonValue(d, depth+1)
		}
	case fmt.Stringer:
		return textValue(x.String())
	}
	return reflectValue(v, rv, depth)
}

func reflectValue(v any, rv reflect.Value, depth int) any {
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return json.Number(strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return floatValue(rv.Float(), rv.Type().Bits())
	case reflect.String:
		return textValue(rv.String())
	case reflect.Pointer, reflect.Interface:
		return jsonValue(rv.Elem().Interface(), depth+1)
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return bytesValue(b)
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = jsonValue(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			out[keyString(iter.Key().Interface(), depth)] = jsonValue(iter.Value().Interface(), depth+1)
		}
		return out
	case reflect.Struct:
		// Methods with pointer receivers (big.Int, many pgtype types) are
		// not in the method set of a struct stored by value.
		if !hasMethods(rv.Type()) && hasMethods(reflect.PointerTo(rv.Type())) {
			p := reflect.New(rv.Type())
			p.Elem().Set(rv)
			return jsonValue(p.Interface(), depth+1)
		}
		if b, err := json.Marshal(v); err == nil {
			if d, ok := decodeJSON(b); ok {
				return jsonValue(d, depth+1)
			}
		}
	}
	return textValue(fmt.Sprintf("%v", v))
}

// hasMethods reports whether t has one of the methods JSONValue uses.
func hasMethods(t reflect.Type) bool {
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || t.Implements(valuer) || t.Implements(stringer)
}

// keyString is the object key a map key becomes.
func keyString(k any, depth int) string {
	switch x := jsonValue(k, depth+1).(type) {
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

func floatValue(f float64, bits int) any {
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

func textValue(s string) any {
	if utf8.ValidString(s) {
		return s
	}
	return map[string]any{BytesKey: base64.StdEncoding.EncodeToString([]byte(s))}
}

func bytesValue(b []byte) any {
	if utf8.Valid(b) {
		return string(b)
	}
	return map[string]any{BytesKey: base64.StdEncoding.EncodeToString(b)}
}

// decodeJSON parses one JSON value, keeping numbers as json.Number.
func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
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

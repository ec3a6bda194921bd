package expect

import (
	"bytes"
	"database/sql/driver"
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Null is an expected value that stands for null: a SQL NULL, a JSON null,
// a nil Redis reply. It exists because a nil Redis.Reply means "not
// asserted"; inside rows, arrays and objects a plain nil means null too.
type Null struct{}

// Equal reports whether got is the value expected, comparing by type:
//
//   - Numbers of any Go kind (int8…int64, uint8…uint64, float32, float64,
//     json.Number, *big.Int, *big.Rat, *big.Float, time.Duration, and
//     values such as pgtype.Numeric whose JSON form is a number) compare by
//     value: 1 == int32(1) == 1.0 == json.Number("1.00"). Integers and
//     decimals compare exactly; when either side is a binary float the
//     comparison is made at that float's precision, so TOML's 0.1 equals a
//     PostgreSQL real 0.1 (float32) and numeric 0.1. NaN equals NaN.
//   - Strings compare exactly, and never equal a number or a boolean.
//   - []byte equals a string with the same bytes (PostgreSQL bytea).
//   - time.Time equals a time.Time or a string that names the same instant:
//     RFC 3339 with or without fractional seconds, "2006-01-02 15:04:05"
//     with an optional zone such as "+00" (as PostgreSQL prints it), or
//     without a zone meaning UTC, or a date "2006-01-02" meaning midnight
//     UTC (pgx returns date and timestamp columns in UTC).
//   - nil, Null{}, a nil pointer and an invalid SQL value (a driver.Valuer
//     whose value is nil) are null, equal only to null. Other pointers
//     compare by what they point to.
//   - Slices and arrays compare element by element and must have the same
//     length; maps compare by key (non-string keys are rendered by Format)
//     and must have the same keys. []any from JSON, TOML or go-redis and any
//     other slice type are alike. An empty and a nil slice are equal.
//   - [16]byte is a UUID (pgx returns uuid columns so) and equals its
//     canonical string "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
//   - Other values are turned into one of the above through, in order: a
//     JSON number from json.Marshaler, a driver.Valuer's value, the rest of
//     json.Marshaler's output, encoding.TextMarshaler, fmt.Stringer. What
//     remains compares with reflect.DeepEqual.
func Equal(expected, got any) bool {
	_, _, _, differ := mismatch("", normalize(expected, 0), normalize(got, 0))
	return !differ
}

// Format renders v unambiguously for messages: strings quoted with Go
// escapes ("a\n"), numbers plain (1, 0.5, 1e+30, nan, inf), true and false,
// null, times in RFC 3339 (unquoted, so they cannot be mistaken for
// strings), bytes as []byte("…"), arrays as [1, "a"] and objects as
// {"k": 1} with sorted keys. Other types print as %#v.
func Format(v any) string { return format(normalize(v, 0)) }

// Value checks that got equals expected by the rules of Equal. A failure
// names the first place where the two differ, appended to check with JSON
// path syntax, for example "rows[1][0]" or "json $.user.name". Arrays of
// different lengths and objects with different keys are reported whole; at
// the top (check itself), when either side is longer than 60 characters on
// one line, with a diff of one element or key per line.
func Value(check string, expected, got any) Result {
	at, e, g, differ := mismatch(check, normalize(expected, 0), normalize(got, 0))
	if !differ {
		return Result{}
	}
	f := Failure{Check: at, Expected: format(e), Got: format(g)}
	if f.Expected == f.Got {
		// Equal text, different values: say which kinds met.
		f.Expected += " (" + kindOf(e) + ")"
		f.Got += " (" + kindOf(g) + ")"
	}
	// Long arrays and objects that differ in length are easier to read one
	// element per line; short ones, and those deeper down (a row's
	// cells), read better on one line.
	long := len(f.Expected) > diffWidth || len(f.Got) > diffWidth
	if el, gl := elementLines(e), elementLines(g); at == check && long && (len(el) > 1 || len(gl) > 1) {
		f.Diff = TextDiff(strings.Join(el, ""), strings.Join(gl, ""))
	}
	return Result{Failures: []Failure{f}}
}

// diffWidth is how long the one-line form of an array or object may be
// before Value shows it as a diff instead.
const diffWidth = 60

// maxDepth bounds normalization, so a value that contains itself ends up
// opaque instead of overflowing the stack.
const maxDepth = 64

// number is any numeric value after normalization.
type number struct {
	exact *big.Rat // integers and decimals, when bits == 0
	f     float64  // binary floats, when bits != 0
	bits  int      // 0, or 32/64 for float32/float64
	text  string   // how Format shows it
}

// opaque holds a value normalize could not map; it compares with
// reflect.DeepEqual.
type opaque struct{ v any }

// tooDeep holds what lies below maxDepth; it compares with
// reflect.DeepEqual (which survives cycles) and prints as "…" (fmt would
// not survive them).
type tooDeep struct{ v any }

// normalize maps v onto nil, bool, string, number, time.Time, []byte, []any,
// map[string]any, opaque or tooDeep, so that comparison and printing need to know
// only those.
func normalize(v any, depth int) any {
	if depth > maxDepth {
		return tooDeep{v}
	}
	switch x := v.(type) {
	case nil, Null:
		return nil
	case bool, string, time.Time:
		return x
	case []byte:
		return x
	case json.Number:
		return parseNumber(string(x))
	case time.Duration:
		return number{exact: new(big.Rat).SetInt64(int64(x)), text: x.String()}
	case *big.Int:
		if x == nil {
			return nil
		}
		return number{exact: new(big.Rat).SetInt(x), text: x.String()}
	case *big.Rat:
		if x == nil {
			return nil
		}
		return number{exact: new(big.Rat).Set(x), text: x.RatString()}
	case *big.Float:
		if x == nil {
			return nil
		}
		if x.IsInf() {
			return floatNumber(math.Inf(x.Sign()), 64)
		}
		r, _ := x.Rat(nil)
		return number{exact: r, text: x.Text('g', -1)}
	case [16]byte:
		return formatUUID(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, depth+1)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e, depth+1)
		}
		return out
	}

	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		// The value pointed to first: *time.Time is a time, not the
		// string its MarshalJSON makes. Only methods with pointer
		// receivers need the pointer itself.
		if n := normalize(rv.Elem().Interface(), depth+1); !isOpaque(n) {
			return n
		}
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return number{exact: new(big.Rat).SetInt64(rv.Int()), text: strconv.FormatInt(rv.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return number{exact: new(big.Rat).SetInt(new(big.Int).SetUint64(rv.Uint())), text: strconv.FormatUint(rv.Uint(), 10)}
	case reflect.Float32:
		return floatNumber(rv.Float(), 32)
	case reflect.Float64:
		return floatNumber(rv.Float(), 64)
	case reflect.String:
		return rv.String()
	}

	if n, ok := viaInterfaces(v, depth); ok {
		return n
	}

	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return rv.Bytes()
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalize(rv.Index(i).Interface(), depth+1)
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := normalize(it.Key().Interface(), depth+1)
			key, ok := k.(string)
			if !ok {
				key = format(k)
			}
			out[key] = normalize(it.Value().Interface(), depth+1)
		}
		return out
	}
	return opaque{v}
}

// viaInterfaces maps the value types of drivers and libraries (pgtype's
// Numeric, Timestamptz, Interval, UUID, netip.Addr, …) through the standard
// interfaces they implement. A JSON number wins over a driver value because
// pgtype.Numeric's driver value is a string.
func viaInterfaces(v any, depth int) (out any, ok bool) {
	defer func() {
		// A method of a value we know nothing about may panic (a nil
		// receiver inside a struct, say); such a value stays opaque.
		if recover() != nil {
			out, ok = nil, false
		}
	}()
	var decoded any
	haveJSON := false
	if m, isM := v.(json.Marshaler); isM {
		if b, err := m.MarshalJSON(); err == nil {
			if x, err := DecodeJSON(b); err == nil {
				decoded, haveJSON = x, true
				switch x := x.(type) {
				case json.Number:
					return parseNumber(string(x)), true
				case string:
					switch x {
					case "NaN":
						return floatNumber(math.NaN(), 64), true
					case "Infinity":
						return floatNumber(math.Inf(1), 64), true
					case "-Infinity":
						return floatNumber(math.Inf(-1), 64), true
					}
				}
			}
		}
	}
	if d, isD := v.(driver.Valuer); isD {
		if x, err := d.Value(); err == nil {
			return normalize(x, depth+1), true
		}
	}
	if haveJSON {
		return normalize(decoded, depth+1), true
	}
	if t, isT := v.(encoding.TextMarshaler); isT {
		if b, err := t.MarshalText(); err == nil {
			return string(b), true
		}
	}
	if s, isS := v.(fmt.Stringer); isS {
		return s.String(), true
	}
	return nil, false
}

func isOpaque(v any) bool {
	_, ok := v.(opaque)
	return ok
}

func floatNumber(f float64, bits int) number {
	return number{f: f, bits: bits, text: formatFloat(f, bits)}
}

// formatFloat prints like encoding/json (plain unless very large or
// small), with TOML's nan and inf.
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'e', -1, bits)
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

// parseNumber reads a decimal number such as a json.Number or a
// PostgreSQL numeric. Text that is no decimal number stays a string.
func parseNumber(s string) any {
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	if !isDecimal(mant) || (hasExp && !isExponent(exp)) {
		return s
	}
	if hasExp {
		// big.Rat would build 10^exp exactly: a hostile "1e999999999"
		// must not allocate gigabytes, so huge exponents go through
		// float64, where they become 0 or ±inf anyway.
		if e, err := strconv.Atoi(exp); err != nil || e > 4000 || e < -4000 {
			f, _ := strconv.ParseFloat(s, 64)
			n := floatNumber(f, 64)
			n.text = s
			return n
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	return number{exact: r, text: s}
}

func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	return isDigits(intPart) && (!hasFrac || isDigits(frac))
}

func isExponent(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return isDigits(s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func formatUUID(b [16]byte) string {
	const hex = "0123456789abcdef"
	var out []byte
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

func (n number) float64() float64 {
	if n.bits != 0 {
		return n.f
	}
	f, _ := n.exact.Float64()
	return f
}

func (n number) float32() float32 {
	if n.bits != 0 {
		return float32(n.f)
	}
	f, _ := n.exact.Float32()
	return f
}

func (n number) equal(m number) bool {
	switch {
	case n.bits == 32 || m.bits == 32:
		a, b := n.float32(), m.float32()
		return a == b || (a != a && b != b)
	case n.bits == 64 || m.bits == 64:
		a, b := n.float64(), m.float64()
		return a == b || (math.IsNaN(a) && math.IsNaN(b))
	}
	return n.exact.Cmp(m.exact) == 0
}

// mismatch finds the first place where the normalized values e and g
// differ: its path (at with a JSON path suffix) and the values there.
func mismatch(at string, e, g any) (string, any, any, bool) {
	switch e := e.(type) {
	case []any:
		g, ok := g.([]any)
		if !ok || len(e) != len(g) {
			return at, e, g, true
		}
		for i := range e {
			if p, x, y, differ := mismatch(at+"["+strconv.Itoa(i)+"]", e[i], g[i]); differ {
				return p, x, y, true
			}
		}
		return "", nil, nil, false
	case map[string]any:
		g, ok := g.(map[string]any)
		if !ok || len(e) != len(g) {
			return at, e, g, true
		}
		keys := slices.Sorted(maps.Keys(e))
		for _, k := range keys {
			if _, ok := g[k]; !ok {
				return at, e, g, true
			}
		}
		for _, k := range keys {
			if p, x, y, differ := mismatch(at+keyElem(k), e[k], g[k]); differ {
				return p, x, y, true
			}
		}
		return "", nil, nil, false
	}
	if !scalarEqual(e, g) {
		return at, e, g, true
	}
	return "", nil, nil, false
}

func scalarEqual(e, g any) bool {
	switch e := e.(type) {
	case nil:
		return g == nil
	case bool:
		g, ok := g.(bool)
		return ok && e == g
	case number:
		g, ok := g.(number)
		return ok && e.equal(g)
	case string:
		switch g := g.(type) {
		case string:
			return e == g
		case []byte:
			return e == string(g)
		case time.Time:
			t, ok := parseTime(e)
			return ok && t.Equal(g)
		}
	case []byte:
		switch g := g.(type) {
		case string:
			return string(e) == g
		case []byte:
			return bytes.Equal(e, g)
		}
	case time.Time:
		switch g := g.(type) {
		case time.Time:
			return e.Equal(g)
		case string:
			t, ok := parseTime(g)
			return ok && t.Equal(e)
		}
	case opaque:
		g, ok := g.(opaque)
		return ok && reflect.DeepEqual(e.v, g.v)
	case tooDeep:
		g, ok := g.(tooDeep)
		return ok && reflect.DeepEqual(e.v, g.v)
	}
	return false
}

// timeLayouts are the spellings of an instant a string may use to equal a
// time.Time. Fractional seconds are accepted after the seconds of any of
// them; layouts without a zone mean UTC.
var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func format(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case number:
		return v.text
	case string:
		return strconv.Quote(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case []byte:
		return "[]byte(" + strconv.Quote(string(v)) + ")"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = format(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ": " + format(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case opaque:
		return fmt.Sprintf("%#v", v.v)
	case tooDeep:
		return "…"
	}
	return fmt.Sprintf("%#v", v)
}

// elementLines renders an array one element per line, or an object one
// key per line, for diffs; other values give nil.
func elementLines(v any) []string {
	switch v := v.(type) {
	case []any:
		lines := make([]string, len(v))
		for i, e := range v {
			lines[i] = format(e) + "\n"
		}
		return lines
	case map[string]any:
		keys := slices.Sorted(maps.Keys(v))
		lines := make([]string, len(keys))
		for i, k := range keys {
			lines[i] = strconv.Quote(k) + ": " + format(v[k]) + "\n"
		}
		return lines
	}
	return nil
}

func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case number:
		switch v.bits {
		case 32:
			return "float32"
		case 64:
			return "float64"
		}
		return "number"
	case string:
		return "string"
	case time.Time:
		return "time"
	case []byte:
		return "bytes"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case opaque:
		return fmt.Sprintf("%T", v.v)
	}
	return fmt.Sprintf("%T", v)
}

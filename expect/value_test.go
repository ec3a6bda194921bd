package expect

import (
	"encoding/json"
	"math"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

type (
	myInt    int32
	myString string
	point    struct{ X, Y int }
	// fakeNumeric mimics pgtype.Numeric: a JSON number, a string driver
	// value.
	fakeNumeric struct{ text string }
	// fakeTimestamp mimics pgtype.Timestamptz: a JSON string, a time.Time
	// driver value.
	fakeTimestamp struct{ t time.Time }
	// named has only a String method.
	named struct{ s string }
)

func (n fakeNumeric) MarshalJSON() ([]byte, error) { return []byte(n.text), nil }
func (n fakeNumeric) Value() (any, error)          { return n.text, nil }
func (t fakeTimestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.t.Format(time.RFC3339))
}
func (t fakeTimestamp) Value() (any, error) { return t.t, nil }
func (n named) String() string              { return n.s }

func TestEqual(t *testing.T) {
	instant := time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	uuid := [16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}
	one := 1
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	var nilPtr *int
	for _, tc := range []struct {
		name          string
		expected, got any
		want          bool
	}{
		// numbers across kinds
		{"int64 = int32", int64(1), int32(1), true},
		{"int64 = int16", int64(7), int16(7), true},
		{"int = uint8", 200, uint8(200), true},
		{"int64 = float64 whole", int64(1), 1.0, true},
		{"float64 = int32", 1.0, int32(1), true},
		{"int64 = json.Number", int64(1), json.Number("1"), true},
		{"float = json.Number 1.0", 1.0, json.Number("1.0"), true},
		{"int = json.Number 1.00e0", 1, json.Number("1.00e0"), true},
		{"int != json.Number 1.5", 1, json.Number("1.5"), false},
		{"0.1 = float32 0.1", 0.1, float32(0.1), true},
		{"int = float32", 2, float32(2), true},
		{"int != float32", 2, float32(2.5), false},
		{"0.1 = numeric 0.1", 0.1, fakeNumeric{"0.1"}, true},
		{"int = numeric 12.50 no", 12, fakeNumeric{"12.50"}, false},
		{"12.5 = numeric 12.50", 12.5, fakeNumeric{"12.50"}, true},
		{"exact big ints differ", json.Number("9007199254740993"), int64(9007199254740992), false},
		{"exact big ints equal", json.Number("18446744073709551615"), uint64(math.MaxUint64), true},
		{"big.Int", big.NewInt(5), int16(5), true},
		{"big.Rat", big.NewRat(1, 2), 0.5, true},
		{"big.Float", big.NewFloat(2), 2, true},
		{"NaN = NaN", math.NaN(), math.NaN(), true},
		{"inf = numeric Infinity", math.Inf(1), fakeNumeric{`"Infinity"`}, true},
		{"named int", 3, myInt(3), true},
		{"1 != 2", 1, 2, false},
		{"duration is its nanoseconds", int64(time.Second), time.Second, true},
		// strings never equal numbers or booleans
		{`"1" != 1`, "1", 1, false},
		{`1 != "1"`, int64(1), "1", false},
		{`"true" != true`, "true", true, false},
		{"string = named string", "a", myString("a"), true},
		{"string exact", "a", "a ", false},
		// bool
		{"true = true", true, true, true},
		{"true != false", true, false, false},
		{"true != 1", true, 1, false},
		// null
		{"nil = nil", nil, nil, true},
		{"Null = nil", Null{}, nil, true},
		{"nil = nil pointer", nil, nilPtr, true},
		{"nil != 0", nil, 0, false},
		{`nil != ""`, nil, "", false},
		{"numeric NULL", nil, fakeNumericNull{}, true},
		// pointers
		{"pointer to int", 1, &one, true},
		{"pointer to time stays a time", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), &day, true},
		{"pointer to struct with pointer methods", "ptr", &ptrStringer{}, true},
		{"exponent", 100, json.Number("1E2"), true},
		{"huge exponent is bounded", 1, json.Number("1e999999999"), false},
		// bytes
		{"bytes = string", "ab", []byte("ab"), true},
		{"string = bytes", []byte("ab"), "ab", true},
		{"bytes != string", "ab", []byte("abc"), false},
		{"uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", uuid, true},
		// times
		{"time = RFC3339", "2024-01-02T03:04:05.6Z", instant, true},
		{"time = RFC3339 offset", "2024-01-02T05:04:05.6+02:00", instant, true},
		{"time = postgres text", "2024-01-02 03:04:05.6+00", instant, true},
		{"time = no zone is UTC", "2024-01-02 03:04:05.6", instant, true},
		{"time = date", "2024-01-02", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), true},
		{"time other instant", "2024-01-02T03:04:05Z", instant, false},
		{"time vs garbage", "yesterday", instant, false},
		{"time = time other zone", instant.In(time.FixedZone("x", 3600)), instant, true},
		{"time from valuer", "2024-01-02T03:04:05Z", fakeTimestamp{instant.Truncate(time.Second)}, true},
		// arrays and objects
		{"arrays", []any{int64(1), "a", nil}, []any{int32(1), "a", nil}, true},
		{"typed slice", []any{1, 2}, []int32{1, 2}, true},
		{"array length", []any{1, 2}, []any{1}, false},
		{"nested", []any{[]any{1}}, [][]any{{json.Number("1")}}, true},
		{"empty = nil slice", []any{}, []int(nil), true},
		{"objects", map[string]any{"a": int64(1), "b": []any{true}}, map[string]any{"b": []any{true}, "a": json.Number("1")}, true},
		{"object extra key", map[string]any{"a": 1}, map[string]any{"a": 1, "b": 2}, false},
		{"object other key", map[string]any{"a": 1}, map[string]any{"b": 1}, false},
		{"map[any]any", map[string]any{"f": "v"}, map[any]any{"f": "v"}, true},
		{"object != array", map[string]any{}, []any{}, false},
		// through interfaces
		{"RawMessage", map[string]any{"a": 1}, json.RawMessage(`{"a":1}`), true},
		{"TextMarshaler", "10.0.0.1", net.ParseIP("10.0.0.1"), true},
		{"Stringer", "x", named{"x"}, true},
		{"opaque structs", point{1, 2}, point{1, 2}, true},
		{"opaque structs differ", point{1, 2}, point{2, 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(tc.expected, tc.got); got != tc.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", Format(tc.expected), Format(tc.got), got, tc.want)
			}
		})
	}
}

type ptrStringer struct{}

func (*ptrStringer) String() string { return "ptr" }

type fakeNumericNull struct{}

func (fakeNumericNull) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

func TestEqualSelfReferenceDoesNotRecurseForever(t *testing.T) {
	a := []any{nil}
	a[0] = a
	if !Equal(a, a) {
		// Past the depth bound the value is opaque and DeepEqual handles
		// cycles: equal to itself.
		t.Error("a self-containing slice is not equal to itself")
	}
	_ = Format(a)
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"hello\n", `"hello\n"`},
		{`say "hi"`, `"say \"hi\""`},
		{int64(1), "1"},
		{int32(-7), "-7"},
		{1.0, "1"},
		{0.5, "0.5"},
		{float32(0.1), "0.1"},
		{1e30, "1e+30"},
		{1e-9, "1e-09"},
		{math.NaN(), "nan"},
		{math.Inf(-1), "-inf"},
		{json.Number("12.50"), "12.50"},
		{fakeNumeric{"12.50"}, "12.50"},
		{true, "true"},
		{nil, "null"},
		{Null{}, "null"},
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02T03:04:05Z"},
		{[]byte("a\x00"), `[]byte("a\x00")`},
		{[]any{1, "a", nil, []any{}}, `[1, "a", null, []]`},
		{map[string]any{"b": 1, "a": []any{true}}, `{"a": [true], "b": 1}`},
		{map[string]any{}, `{}`},
		{time.Second, "1s"},
		{new(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)), "2024-01-02T00:00:00Z"},
		{json.Number("1e999999999"), "1e999999999"},
		{point{1, 2}, "expect.point{X:1, Y:2}"},
	} {
		if got := Format(tc.v); got != tc.want {
			t.Errorf("Format(%#v) = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		name          string
		expected, got any
		want          []string
	}{
		{"equal", []any{1}, []any{int32(1)}, nil},
		{"scalar", 1, 2, []string{"v: expected 1, got 2"}},
		{"typed", 1, "1", []string{`v: expected 1, got "1"`}},
		{"nested index", []any{[]any{1, 2}}, []any{[]any{1, 3}}, []string{"v[0][1]: expected 2, got 3"}},
		{"nested key", map[string]any{"user": map[string]any{"name": "ada"}}, map[string]any{"user": map[string]any{"name": "bob"}},
			[]string{`v.user.name: expected "ada", got "bob"`}},
		{"odd key", map[string]any{"a b": 1}, map[string]any{"a b": 2}, []string{`v["a b"]: expected 1, got 2`}},
		{"nested length on one line", []any{[]any{1}}, []any{[]any{1, 2}}, []string{"v[0]: expected [1], got [1, 2]"}},
		{"short arrays one line", []any{1}, []any{}, []string{"v: expected [1], got []"}},
		{"short top length on one line", []any{1, 2}, []any{1}, []string{"v: expected [1, 2], got [1]"}},
		{"long top length as diff", []any{1, 2, strings.Repeat("x", 60)}, []any{1, strings.Repeat("x", 60)},
			[]string{"v: expected and got differ:\n--- expected\n+++ got\n@@ -1,3 +1,2 @@\n 1\n-2\n \"" + strings.Repeat("x", 60) + "\""}},
		{"short object keys on one line", map[string]any{"a": 1, "b": 2}, map[string]any{"a": 1, "c": 2}, []string{`v: expected {"a": 1, "b": 2}, got {"a": 1, "c": 2}`}},
		{"long object keys as diff", map[string]any{"a": 1, "b": strings.Repeat("y", 60)}, map[string]any{"a": 1, "c": strings.Repeat("y", 60)},
			[]string{"v: expected and got differ:\n--- expected\n+++ got\n@@ -1,2 +1,2 @@\n \"a\": 1\n-\"b\": \"" + strings.Repeat("y", 60) + "\"\n+\"c\": \"" + strings.Repeat("y", 60) + "\""}},
		{"other types", point{1, 2}, point2{1, 2}, []string{"v: expected expect.point{X:1, Y:2}, got expect.point2{X:1, Y:2}"}},
		{"same text, unequal", nanBox{math.NaN()}, nanBox{math.NaN()}, []string{"v: expected expect.nanBox{F:NaN} (expect.nanBox), got expect.nanBox{F:NaN} (expect.nanBox)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantMessages(t, Value("v", tc.expected, tc.got), tc.want...)
		})
	}
}

type (
	point2 struct{ X, Y int }
	nanBox struct{ F float64 }
)

package snapshot

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

type dbValue struct{ v any }

func (v dbValue) Value() (driver.Value, error) { return v.v, nil }

type point struct {
	X, Y int
	Name string `json:"name"`
}

type named string

func (n named) String() string { return "named:" + string(n) }

func TestCanonical(t *testing.T) {
	type cyclic map[string]any
	cyc := cyclic{}
	cyc["self"] = cyc
	var nilPtr *int
	var nilErr error

	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, "null"},
		{"string", "OK", `"OK"`},
		{"string with html and unicode", "<h1>é</h1>&", `"<h1>é</h1>&"`},
		{"int64", int64(42), "42"},
		{"max int64", int64(math.MaxInt64), "9223372036854775807"},
		{"max uint64", uint64(math.MaxUint64), "18446744073709551615"},
		{"big int", new(big.Int).Lsh(big.NewInt(1), 100), "1267650600228229401496703205376"},
		{"big rat", big.NewRat(1, 3), `"1/3"`},
		{"float integral", 3.0, "3"},
		{"float", 0.1, "0.1"},
		{"float32", float32(0.1), "0.1"},
		{"big float64", 1e21, "1e+21"},
		{"NaN", math.NaN(), `"NaN"`},
		{"-Inf", math.Inf(-1), `"-Inf"`},
		{"json.Number kept as written", json.Number("1.50"), "1.50"},
		{"bad json.Number", json.Number("x1"), `"x1"`},
		{"bool", true, "true"},
		{"bytes as text", []byte("hi"), `"hi"`},
		{"bytes not UTF-8", []byte{0xde, 0xad, 0xbe, 0xef}, "{\n  \"$base64\": \"3q2+7w==\"\n}"},
		{"uuid from pgx", [16]byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}, `"550e8400-e29b-41d4-a716-446655440000"`},
		{"time", time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC), `"2024-02-29T23:59:59.999999999Z"`},
		{"duration", 1500 * time.Millisecond, `"1.5s"`},
		{"error", errors.New("ERR wrong type"), `"ERR wrong type"`},
		{"nil error", nilErr, "null"},
		{"nil pointer", nilPtr, "null"},
		{"pointer", &[]int{1}, "[\n  1\n]"},
		{"nil rows", [][]any(nil), "[]"},
		{"no rows", [][]any{}, "[]"},
		{"nil map", map[string]any(nil), "{}"},
		{"sql rows", [][]any{{int64(1), "ada", nil}, {int64(2), "bob", true}},
			"[\n  [\n    1,\n    \"ada\",\n    null\n  ],\n  [\n    2,\n    \"bob\",\n    true\n  ]\n]"},
		{"redis array", []any{"OK", int64(2), nil, []any{"a"}},
			"[\n  \"OK\",\n  2,\n  null,\n  [\n    \"a\"\n  ]\n]"},
		{"sorted keys", map[string]any{"b": 1, "a": map[string]any{"d": 1, "c": 2}},
			"{\n  \"a\": {\n    \"c\": 2,\n    \"d\": 1\n  },\n  \"b\": 1\n}"},
		{"redis map with any keys", map[any]any{"k": int64(1), int64(2): "two"},
			"{\n  \"2\": \"two\",\n  \"k\": 1\n}"},
		{"keys that read the same", map[any]any{"1": "s", int64(1): "i", true: "t", "true": "u"},
			"{\n  \"1\": \"i\",\n  \"1 (2)\": \"s\",\n  \"true\": \"t\",\n  \"true (2)\": \"u\"\n}"},
		{"map key not UTF-8", map[string]any{"\xff": 1}, "{\n  \"{\\\"$base64\\\":\\\"/w==\\\"}\": 1\n}"},
		{"struct", point{1, 2, "p"}, "{\n  \"X\": 1,\n  \"Y\": 2,\n  \"name\": \"p\"\n}"},
		{"json.RawMessage", json.RawMessage(`{"b":1.0,"a":[]}`), "{\n  \"a\": [],\n  \"b\": 1.0\n}"},
		{"text marshaler", net.ParseIP("10.0.0.1"), `"10.0.0.1"`},
		{"valuer", dbValue{int64(7)}, "7"},
		{"stringer", named("x"), `"named:x"`},
		{"func", func() {}, `"(func())"`},
		{"cycle ends", cyc, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Canonical(tt.in)
			if !strings.HasSuffix(got, "\n") {
				t.Errorf("Canonical(%#v) = %q does not end in a newline", tt.in, got)
			}
			if tt.want == "" {
				return
			}
			if got != tt.want+"\n" {
				t.Errorf("Canonical(%#v)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

// The same map, built in different orders, renders the same.
func TestCanonicalStable(t *testing.T) {
	first := ""
	for range 20 {
		m := map[any]any{}
		for i := range 50 {
			m[int64(i)] = i
			m[string(rune('a'+i%26))+"x"] = i
		}
		m["7"] = "clash"
		got := Canonical(m)
		if first == "" {
			first = got
		} else if got != first {
			t.Fatalf("renders differ:\n%s\n%s", first, got)
		}
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`{"b":2,"a":{"y":[1,2.50,1e3],"x":null}}`, "{\n  \"a\": {\n    \"x\": null,\n    \"y\": [\n      1,\n      2.50,\n      1e3\n    ]\n  },\n  \"b\": 2\n}\n", true},
		{`  [ ]  ` + "\n", "[]\n", true},
		{`"s"`, "\"s\"\n", true},
		{`12345678901234567890123`, "12345678901234567890123\n", true},
		{`{"html":"<a href=\"x\">&</a>"}`, "{\n  \"html\": \"<a href=\\\"x\\\">&</a>\"\n}\n", true},
		{`{"a":1,"a":2}`, "{\n  \"a\": 2\n}\n", true},
		{"", "", false},
		{"OK", "", false},
		{"<h1>hi</h1>", "", false},
		{`{"a":1} {"b":2}`, "", false},
		{`{"a":1}}`, "", false},
		{`{"a":1`, "", false},
		{"\"\xff\"", "", false},
		{"\ufeff{}", "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalJSON([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalJSON(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

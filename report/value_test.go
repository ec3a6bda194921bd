package report

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"net/netip"
	"testing"
	"time"
)

type color int

func (c color) String() string { return [...]string{"red", "green"}[c] }

type money struct{ cents int64 }

func (m money) MarshalJSON() ([]byte, error) {
	return []byte(`{"cents":` + big.NewInt(m.cents).String() + `}`), nil
}

type broken struct{ A int }

func (broken) MarshalJSON() ([]byte, error) { return nil, errors.New("no") }

type interval struct{ text string }

func (i *interval) Value() (driver.Value, error) { return i.text, nil }

type plain struct {
	A int    `json:"a"`
	B []byte `json:"b"`
}

func TestJSONValue(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	var nilMap map[string]int
	var nilPtr *int
	tests := []struct {
		name string
		in   any
		want string // the JSON encoding/json writes for JSONValue(in)
	}{
		{"nil", nil, `null`},
		{"nil pointer", nilPtr, `null`},
		{"nil map", nilMap, `null`},
		{"bool", true, `true`},
		{"int", 42, `42`},
		{"max int64", int64(math.MaxInt64), `9223372036854775807`},
		{"min int64", int64(math.MinInt64), `-9223372036854775808`},
		{"max uint64", uint64(math.MaxUint64), `18446744073709551615`},
		{"int8", int8(-5), `-5`},
		{"float", 0.1, `0.1`},
		{"float32 stays short", float32(0.1), `0.1`},
		{"large float", 1e21, `1e+21`},
		{"NaN", math.NaN(), `"NaN"`},
		{"+Inf", math.Inf(1), `"+Inf"`},
		{"-Inf float32", float32(math.Inf(-1)), `"-Inf"`},
		{"big.Int", new(big.Int).Exp(big.NewInt(10), big.NewInt(30), nil), `1000000000000000000000000000000`},
		{"big.Int by value", *big.NewInt(-12), `-12`},
		{"big.Float", big.NewFloat(1.5), `1.5`},
		{"big.Rat integer", big.NewRat(6, 3), `2`},
		{"big.Rat fraction", big.NewRat(1, 3), `"1/3"`},
		{"json.Number", json.Number("12.50"), `12.50`},
		{"invalid json.Number", json.Number("12,5"), `"12,5"`},
		{"json.Number, JSON but no number", json.Number("true"), `"true"`},
		{"json.Number not UTF-8", json.Number("1\xff"), `{"$base64":"Mf8="}`},
		{"string", "a <b> & c", `"a <b> & c"`},
		{"invalid UTF-8 string", "a\xffb", `{"$base64":"Yf9i"}`},
		{"UTF-8 bytes", []byte("héllo"), `"héllo"`},
		{"binary bytes", []byte{0, 0xff}, `{"$base64":"AP8="}`},
		{"nil bytes", []byte(nil), `null`},
		{"byte array (uuid)", [4]byte{0xde, 0xad, 0xbe, 0xef}, `{"$base64":"3q2+7w=="}`},
		{"uuid from pgx", [16]byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}, `{"$base64":"VQ6EAOKbQdSnFkRmVUQAAA=="}`},
		{"time", time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)), `"2025-01-02T03:04:05.000000006+01:00"`},
		{"duration", 90 * time.Second, `"1m30s"`},
		{"error", errors.New("WRONGTYPE"), `"WRONGTYPE"`},
		{"Stringer", color(1), `"green"`},
		{"TextMarshaler", netip.MustParseAddr("::1"), `"::1"`},
		{"json.Marshaler", money{150}, `{"cents":150}`},
		{"failing json.Marshaler", broken{A: 1}, `"{1}"`},
		{"driver.Valuer, pointer receiver", interval{"1 day"}, `"1 day"`},
		{"struct", plain{A: 1, B: []byte("x")}, `{"a":1,"b":"eA=="}`},
		{"pointer", &plain{A: 2}, `{"a":2,"b":null}`},
		{"list", []any{int64(1), "two", nil, []byte{0xff}}, `[1,"two",null,{"$base64":"/w=="}]`},
		{"typed list", []int32{1, 2}, `[1,2]`},
		{"map any keys (RESP3)", map[any]any{"b": int64(1), int64(2): "x", true: nil}, `{"2":"x","b":1,"true":null}`},
		{"keys that read the same", map[any]any{"1": "s", int64(1): "i", true: "t", "true": "u"}, `{"1":"i","1 (2)":"s","true":"t","true (2)":"u"}`},
		{"map values normalised", map[string]any{"n": uint64(math.MaxUint64)}, `{"n":18446744073709551615}`},
		{"complex", complex(1, 2), `"(1+2i)"`},
		{"channel", make(chan int), `"(chan int)"`},
		{"func", func() {}, `"(func())"`},
		{"cyclic", cyclic, ``}, // only: must end
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := marshal(JSONValue(tt.in))
			if err != nil {
				t.Fatalf("json.Marshal(JSONValue(%#v)) = %v", tt.in, err)
			}
			if tt.want != "" && string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
			// Read back as ReadJSON reads, the value normalises to the same.
			back, ok := decodeJSON(b)
			if !ok {
				t.Fatalf("cannot decode %s", b)
			}
			b2, _ := marshal(JSONValue(restoreBytes(back)))
			if string(b2) != string(b) {
				t.Errorf("after a round trip: %s, want %s", b2, b)
			}
		})
	}
}

// marshal is json.Marshal as WriteJSON writes: no HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

func TestValueOptions(t *testing.T) {
	uuid := [16]byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
	tests := []struct {
		name string
		o    ValueOptions
		in   any
		want string
	}{
		{"uuid as text", ValueOptions{UUIDText: true}, uuid, `"550e8400-e29b-41d4-a716-446655440000"`},
		{"uuid in a row", ValueOptions{UUIDText: true}, []any{uuid}, `["550e8400-e29b-41d4-a716-446655440000"]`},
		{"other arrays stay bytes", ValueOptions{UUIDText: true}, [4]byte{0xde, 0xad, 0xbe, 0xef}, `{"$base64":"3q2+7w=="}`},
		{"nil rows", ValueOptions{EmptyNil: true}, [][]any(nil), `[]`},
		{"nil map", ValueOptions{EmptyNil: true}, map[string]int(nil), `{}`},
		{"nil bytes", ValueOptions{EmptyNil: true}, []byte(nil), `""`},
		{"nil RawMessage", ValueOptions{EmptyNil: true}, json.RawMessage(nil), `null`},
		{"nil pointer", ValueOptions{EmptyNil: true}, (*int)(nil), `null`},
		{"nil slice without the option", ValueOptions{UUIDText: true}, []int(nil), `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := marshal(tt.o.JSONValue(tt.in))
			if err != nil || string(b) != tt.want {
				t.Errorf("got %s (%v), want %s", b, err, tt.want)
			}
		})
	}
}

func TestParseJSONValue(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{` {"b":[1.50,1e3],"a":null} ` + "\n", `{"a":null,"b":[1.50,1e3]}`, true},
		{`12345678901234567890123`, `12345678901234567890123`, true},
		{`{"a":1,"a":2}`, `{"a":2}`, true},
		{`{"a":1}}`, ``, false},
		{`1 2`, ``, false},
		{"\"\xff\"", ``, false},
		{``, ``, false},
	}
	for _, tt := range tests {
		v, ok := ParseJSONValue([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("ParseJSONValue(%q): ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if b, _ := marshal(v); string(b) != tt.want {
			t.Errorf("ParseJSONValue(%q) = %s, want %s", tt.in, b, tt.want)
		}
	}
}

package expect

import (
	"errors"
	"math/big"
	"testing"
)

func TestRedis(t *testing.T) {
	wrongType := errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")
	redisNil := errors.New("redis: nil") // what go-redis's redis.Nil says
	for _, tc := range []struct {
		name   string
		expect Redis
		out    RedisOutput
		want   []string
	}{
		{"no expectations", Redis{}, RedisOutput{Reply: "OK"}, nil},
		{"status reply OK", Redis{Reply: "OK"}, RedisOutput{Reply: "OK"}, nil},
		{"string reply differs", Redis{Reply: "ada"}, RedisOutput{Reply: "bob"}, []string{`reply: expected "ada", got "bob"`}},
		{"integer reply", Redis{Reply: int64(1)}, RedisOutput{Reply: int64(1)}, nil},
		{"integer reply against TOML float", Redis{Reply: 3.0}, RedisOutput{Reply: int64(3)}, nil},
		{"integer is not a string", Redis{Reply: "1"}, RedisOutput{Reply: int64(1)}, []string{`reply: expected "1", got 1`}},
		{"bulk string is not an integer", Redis{Reply: int64(1)}, RedisOutput{Reply: "1"}, []string{`reply: expected 1, got "1"`}},
		{"array pass", Redis{Reply: []any{"a", int64(2), nil}}, RedisOutput{Reply: []any{"a", int64(2), nil}}, nil},
		{"array element differs", Redis{Reply: []any{"a", "b", "c"}}, RedisOutput{Reply: []any{"a", "x", "c"}},
			[]string{`reply[1]: expected "b", got "x"`}},
		{"array element typed", Redis{Reply: []any{int64(1), int64(2)}}, RedisOutput{Reply: []any{int64(1), "2"}},
			[]string{`reply[1]: expected 2, got "2"`}},
		{"array length differs", Redis{Reply: []any{"a", "b"}}, RedisOutput{Reply: []any{"a"}},
			[]string{`reply: expected ["a", "b"], got ["a"]`}},
		{"nested arrays", Redis{Reply: []any{[]any{"0", []any{"k"}}}}, RedisOutput{Reply: []any{[]any{"0", []any{"j"}}}},
			[]string{`reply[0][1][0]: expected "k", got "j"`}},
		{"empty array", Redis{Reply: []any{}}, RedisOutput{Reply: []any{}}, nil},
		{"RESP3 map", Redis{Reply: map[string]any{"name": "ada", "n": int64(1)}}, RedisOutput{Reply: map[any]any{"name": "ada", "n": int64(1)}}, nil},
		{"RESP3 map differs", Redis{Reply: map[string]any{"name": "ada"}}, RedisOutput{Reply: map[any]any{"name": "bob"}},
			[]string{`reply.name: expected "ada", got "bob"`}},
		{"RESP3 double and bignum", Redis{Reply: []any{1.5, int64(7)}}, RedisOutput{Reply: []any{1.5, big.NewInt(7)}}, nil},
		{"RESP3 bool", Redis{Reply: true}, RedisOutput{Reply: true}, nil},
		{"expected reply, got nil", Redis{Reply: "x"}, RedisOutput{Err: redisNil}, []string{`reply: expected "x", got null`}},
		{"Null expects a nil reply", Redis{Reply: Null{}}, RedisOutput{Err: redisNil}, nil},
		{"Null against a value", Redis{Reply: Null{}}, RedisOutput{Reply: "x"}, []string{`reply: expected null, got "x"`}},
		{"redis.Nil is no failure", Redis{}, RedisOutput{Err: redisNil}, nil},

		{"unexpected error", Redis{Reply: "OK"}, RedisOutput{Err: wrongType},
			[]string{"error: expected no error, got WRONGTYPE Operation against a key holding the wrong kind of value"}},
		{"error_contains pass", Redis{ErrorContains: []string{"WRONGTYPE"}}, RedisOutput{Err: wrongType}, nil},
		{"error_contains missing", Redis{ErrorContains: []string{"WRONGTYPE", "ERR syntax"}}, RedisOutput{Err: wrongType},
			[]string{`error_contains: expected an error containing "ERR syntax", got WRONGTYPE Operation against a key holding the wrong kind of value`}},
		{"error_contains but no error", Redis{ErrorContains: []string{"WRONGTYPE"}}, RedisOutput{Reply: "OK"},
			[]string{`error_contains: expected an error containing "WRONGTYPE", got no error`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantMessages(t, tc.expect.Check(tc.out), tc.want...)
		})
	}
}

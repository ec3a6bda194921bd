package expect

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSQL(t *testing.T) {
	rows := [][]any{{int32(1), "ada", true}, {int32(2), "bob", nil}}
	out := SQLOutput{Rows: rows, RowsAffected: 2}
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	pgErr := errors.New(`ERROR: duplicate key value violates unique constraint "users_name_key" (SQLSTATE 23505)`)
	many := func(n int) [][]any {
		var rs [][]any
		for i := range n {
			rs = append(rs, []any{int64(i), fmt.Sprintf("user-%d", i)})
		}
		return rs
	}

	for _, tc := range []struct {
		name   string
		expect SQL
		out    SQLOutput
		want   []string
	}{
		{"no expectations", SQL{}, out, nil},
		{"rows pass, TOML int64 against int4", SQL{Rows: [][]any{{int64(1), "ada", true}, {int64(2), "bob", nil}}}, out, nil},
		{"rows pass, float against int", SQL{Rows: [][]any{{1.0, "ada", true}, {2.0, "bob", Null{}}}}, out, nil},
		{"rows first differing cell", SQL{Rows: [][]any{{1, "ada", true}, {3, "bob", nil}}}, out,
			[]string{"rows[1][0]: expected 3, got 2"}},
		{"rows typed cell", SQL{Rows: [][]any{{"1", "ada", true}, {2, "bob", nil}}}, out,
			[]string{`rows[0][0]: expected "1", got 1`}},
		{"rows null cell", SQL{Rows: [][]any{{1, "ada", true}, {2, "bob", ""}}}, out,
			[]string{`rows[1][2]: expected "", got null`}},
		{"rows count differs", SQL{Rows: [][]any{{1, "ada", true}}}, out,
			[]string{`rows: expected [[1, "ada", true]], got [[1, "ada", true], [2, "bob", null]]`}},
		{"rows count differs, long, as diff", SQL{Rows: many(5)}, SQLOutput{Rows: append(many(2), many(5)[3:]...)},
			[]string{"rows: expected and got differ:\n--- expected\n+++ got\n@@ -1,5 +1,4 @@\n [0, \"user-0\"]\n [1, \"user-1\"]\n-[2, \"user-2\"]\n [3, \"user-3\"]\n [4, \"user-4\"]"}},
		{"rows expected none", SQL{Rows: [][]any{}}, out,
			[]string{`rows: expected [], got [[1, "ada", true], [2, "bob", null]]`}},
		{"rows expected none, got none", SQL{Rows: [][]any{}}, SQLOutput{}, nil},
		{"rows column count differs", SQL{Rows: [][]any{{1, "ada"}, {2, "bob", nil}}}, out,
			[]string{`rows[0]: expected [1, "ada"], got [1, "ada", true]`}},
		{"rows time against RFC 3339", SQL{Rows: [][]any{{"2024-05-06T07:08:09Z"}}}, SQLOutput{Rows: [][]any{{when}}}, nil},
		{"rows time differs", SQL{Rows: [][]any{{"2024-05-06T07:08:10Z"}}}, SQLOutput{Rows: [][]any{{when}}},
			[]string{`rows[0][0]: expected "2024-05-06T07:08:10Z", got 2024-05-06T07:08:09Z`}},
		{"rows bytea against string", SQL{Rows: [][]any{{"\x00ab"}}}, SQLOutput{Rows: [][]any{{[]byte("\x00ab")}}}, nil},
		{"rows float4", SQL{Rows: [][]any{{0.1, 2.5}}}, SQLOutput{Rows: [][]any{{float32(0.1), float64(2.5)}}}, nil},
		{"rows jsonb cell", SQL{Rows: [][]any{{map[string]any{"a": []any{int64(1)}}}}}, SQLOutput{Rows: [][]any{{map[string]any{"a": []any{1.0}}}}}, nil},
		{"rows jsonb cell differs", SQL{Rows: [][]any{{map[string]any{"a": []any{int64(1)}}}}}, SQLOutput{Rows: [][]any{{map[string]any{"a": []any{2.0}}}}},
			[]string{"rows[0][0].a[0]: expected 1, got 2"}},

		{"row_count pass", SQL{RowCount: new(2)}, out, nil},
		{"row_count fail", SQL{RowCount: new(3)}, out, []string{"row_count: expected 3, got 2"}},
		{"rows_affected pass", SQL{RowsAffected: new(int64(2))}, out, nil},
		{"rows_affected fail", SQL{RowsAffected: new(int64(1))}, out, []string{"rows_affected: expected 1, got 2"}},

		{"unexpected error", SQL{Rows: [][]any{{1}}}, SQLOutput{Err: pgErr},
			[]string{`error: expected no error, got ERROR: duplicate key value violates unique constraint "users_name_key" (SQLSTATE 23505)`}},
		{"error_contains pass", SQL{ErrorContains: []string{"duplicate key", "23505"}}, SQLOutput{Err: pgErr}, nil},
		{"error_contains reports each missing item", SQL{ErrorContains: []string{"duplicate key", "foreign key", "23503"}}, SQLOutput{Err: pgErr}, []string{
			`error_contains: expected an error containing "foreign key", got ERROR: duplicate key value violates unique constraint "users_name_key" (SQLSTATE 23505)`,
			`error_contains: expected an error containing "23503", got ERROR: duplicate key value violates unique constraint "users_name_key" (SQLSTATE 23505)`,
		}},
		{"error_contains but no error", SQL{ErrorContains: []string{"duplicate key"}}, out,
			[]string{`error_contains: expected an error containing "duplicate key", got no error`}},

		{"every failure", SQL{Rows: [][]any{{1, "ada", false}, {2, "bob", nil}}, RowCount: new(1), RowsAffected: new(int64(0))}, out, []string{
			"rows[0][2]: expected false, got true",
			"row_count: expected 1, got 2",
			"rows_affected: expected 0, got 2",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantMessages(t, tc.expect.Check(tc.out), tc.want...)
		})
	}
}

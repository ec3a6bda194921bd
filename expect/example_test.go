package expect_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cleanroomhq/cleanroom/expect"
)

// An exec step that printed the wrong greeting and exited 3.
func ExampleExec() {
	e := expect.Exec{
		Stdout:         new("hello\n"),
		StderrContains: []string{"warn"},
	}
	res, err := e.Check(expect.ExecOutput{ExitCode: 3, Stdout: []byte("helo\n"), Stderr: []byte("warn\n")})
	if err != nil { // a bad pattern or JSON path
		panic(err)
	}
	fmt.Println(res)
	// Output:
	// exit_code: expected 0, got 3, stderr: "warn\n"
	// stdout: expected "hello\n", got "helo\n"
}

// stdout_json reads stdout as JSON and compares typed values: the JSON
// number 7 equals TOML's 7, but not the string "7".
func ExampleExec_stdoutJSON() {
	e := expect.Exec{StdoutJSON: map[string]any{
		"$.user.id":   "7",
		"$.user.name": "ada",
		"$.tags[-1]":  "new",
	}}
	res, _ := e.Check(expect.ExecOutput{Stdout: []byte(`{"user": {"id": 7, "name": "ada"}, "tags": []}`)})
	fmt.Println(res)
	// Output:
	// stdout_json $.tags[-1]: expected "new", got nothing ($.tags has 0 elements, no index -1)
	// stdout_json $.user.id: expected "7", got 7
}

func ExampleJSONPath() {
	doc, _ := expect.DecodeJSON([]byte(`{"items": [{"id": 1}, {"id": 2}], "key with.dot": true}`))
	for _, path := range []string{"$.items[-1].id", "items[0]", `$."key with.dot"`, "$.items[2]", "$.items.id"} {
		v, err := expect.JSONPath(doc, path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			continue
		}
		fmt.Printf("%s = %s\n", path, expect.Format(v))
	}
	// Output:
	// $.items[-1].id = 2
	// items[0] = {"id": 1}
	// $."key with.dot" = true
	// $.items[2]: $.items has 2 elements, no index 2
	// $.items.id: $.items is an array, not an object
}

// Rows come from pgx typed (int32 for an int4 column); the expected rows
// come from TOML (int64). Numbers compare by value; a failure names the
// first differing cell.
func ExampleSQL() {
	s := expect.SQL{
		Rows:     [][]any{{int64(1), "ada"}, {int64(3), "bob"}},
		RowCount: new(2),
	}
	res := s.Check(expect.SQLOutput{Rows: [][]any{{int32(1), "ada"}, {int32(2), "bob"}}})
	fmt.Println(res)

	s = expect.SQL{ErrorContains: []string{"duplicate key"}}
	fmt.Println(s.Check(expect.SQLOutput{Err: errors.New(`ERROR: duplicate key value violates unique constraint "users_pkey" (SQLSTATE 23505)`)}))
	// Output:
	// rows[1][0]: expected 3, got 2
	// ok
}

func ExampleRedis() {
	r := expect.Redis{Reply: []any{"ada", int64(36)}}
	fmt.Println(r.Check(expect.RedisOutput{Reply: []any{"ada", "36"}}))
	// Output:
	// reply[1]: expected 36, got "36"
}

// With no Status, a response must be 2xx or 3xx.
func ExampleHTTP() {
	h := expect.HTTP{
		Headers:      map[string]string{"content-type": "application/json"},
		BodyContains: []string{"ada"},
	}
	res, _ := h.Check(expect.HTTPOutput{
		Status: 503,
		Header: http.Header{"Content-Type": {"text/plain"}},
		Body:   []byte("database unavailable\n"),
	})
	fmt.Println(res)
	// Output:
	// status: expected 2xx or 3xx, got 503, body: "database unavailable\n"
	// header Content-Type: expected "application/json", got "text/plain"
	// body_contains: expected text containing "ada", got "database unavailable\n"
}

func ExampleText() {
	res := expect.Text("stdout", "ada\ngrace\nlinus\n", "ada\nlinus\nken\n")
	fmt.Println(res)
	// Output:
	// stdout: expected and got differ:
	// --- expected
	// +++ got
	// @@ -1,3 +1,3 @@
	//  ada
	// -grace
	//  linus
	// +ken
}

func ExampleEqual() {
	fmt.Println(expect.Equal(int64(1), int32(1)))
	fmt.Println(expect.Equal(1, 1.0))
	fmt.Println(expect.Equal(1, "1"))
	fmt.Println(expect.Equal("2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600))))
	fmt.Println(expect.Equal([]any{"a", nil}, []any{"a", expect.Null{}}))
	// Output:
	// true
	// true
	// false
	// true
	// true
}

func ExampleResult_Err() {
	res := expect.Join(
		expect.Value("reply", "OK", "QUEUED"),
		expect.Duration(1500*time.Millisecond, time.Second),
	)
	var failed *expect.Error
	if err := res.Err(); errors.As(err, &failed) {
		fmt.Println(len(failed.Failures), "failures:")
		fmt.Println(err)
	}
	// Output:
	// 2 failures:
	// reply: expected "OK", got "QUEUED"
	// max_duration: expected at most 1s, got 1.5s
}

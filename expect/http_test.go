package expect

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHTTP(t *testing.T) {
	page := HTTPOutput{
		Status: 200,
		Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Set-Cookie": {"a=1", "b=2"}, "X-Request-Id": {"42"}},
		Body:   []byte("<h1>hello</h1>\n"),
	}
	api := HTTPOutput{Status: 201, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"id": 7, "user": {"name": "ada"}, "tags": []}`)}
	for _, tc := range []struct {
		name   string
		expect HTTP
		out    HTTPOutput
		want   []string
	}{
		{"no expectations, 200", HTTP{}, page, nil},
		{"no expectations, 302", HTTP{}, HTTPOutput{Status: 302}, nil},
		{"no expectations, 204", HTTP{}, HTTPOutput{Status: 204}, nil},
		{"no expectations means 2xx or 3xx", HTTP{}, HTTPOutput{Status: 404}, []string{"status: expected 2xx or 3xx, got 404"}},
		{"no expectations, 1xx fails", HTTP{}, HTTPOutput{Status: 101}, []string{"status: expected 2xx or 3xx, got 101"}},
		{"wrong status quotes the body", HTTP{}, HTTPOutput{Status: 500, Body: []byte("db down\n")},
			[]string{`status: expected 2xx or 3xx, got 500, body: "db down\n"`}},
		{"wrong status, long body", HTTP{Status: new(200)}, HTTPOutput{Status: 500, Body: []byte(strings.Repeat("é", 300))},
			[]string{`status: expected 200, got 500, body: (first 512 of 600 bytes) "` + strings.Repeat("é", 256) + `"`}},
		{"status pass", HTTP{Status: new(201)}, api, nil},
		{"status expected error code", HTTP{Status: new(404)}, HTTPOutput{Status: 404}, nil},
		{"status fail", HTTP{Status: new(200)}, api, []string{`status: expected 200, got 201, body: "{\"id\": 7, \"user\": {\"name\": \"ada\"}, \"tags\": []}"`}},

		{"header names ignore case", HTTP{Headers: map[string]string{"content-type": "text/html; charset=utf-8", "X-REQUEST-ID": "42"}}, page, nil},
		{"header from a hand-built map", HTTP{Headers: map[string]string{"X-Id": "1"}}, HTTPOutput{Status: 200, Header: http.Header{"x-id": {"1"}}}, nil},
		{"header value exact", HTTP{Headers: map[string]string{"Content-Type": "text/html"}}, page,
			[]string{`header Content-Type: expected "text/html", got "text/html; charset=utf-8"`}},
		{"header missing", HTTP{Headers: map[string]string{"x-trace": "1"}}, page, []string{`header X-Trace: expected "1", got no such header`}},
		{"header one of several values", HTTP{Headers: map[string]string{"set-cookie": "b=2"}}, page, nil},
		{"header all values joined", HTTP{Headers: map[string]string{"Set-Cookie": "a=1, b=2"}}, page, nil},
		{"header several values fail", HTTP{Headers: map[string]string{"Set-Cookie": "c=3"}}, page,
			[]string{`header Set-Cookie: expected "c=3", got ["a=1", "b=2"]`}},
		{"headers in name order", HTTP{Headers: map[string]string{"x-b": "1", "x-a": "1"}}, page, []string{
			`header X-A: expected "1", got no such header`,
			`header X-B: expected "1", got no such header`,
		}},

		{"body pass", HTTP{Body: new("<h1>hello</h1>\n")}, page, nil},
		{"body fail", HTTP{Body: new("<h1>hello</h1>")}, page, []string{`body: expected "<h1>hello</h1>", got "<h1>hello</h1>\n"`}},
		{"body_contains pass", HTTP{BodyContains: []string{"<h1>", "hello"}}, page, nil},
		{"body_contains each missing", HTTP{BodyContains: []string{"<h2>", "hello", "bye"}}, page, []string{
			`body_contains: expected text containing "<h2>", got "<h1>hello</h1>\n"`,
			`body_contains: expected text containing "bye", got "<h1>hello</h1>\n"`,
		}},
		{"body_contains long body is cut", HTTP{BodyContains: []string{"needle"}}, HTTPOutput{Status: 200, Body: []byte(strings.Repeat("a", 5000))},
			[]string{`body_contains: expected text containing "needle", got (first 4096 of 5000 bytes) "` + strings.Repeat("a", 4096) + `"`}},
		{"body_matches pass", HTTP{BodyMatches: `<h1>\w+</h1>`}, page, nil},
		{"body_matches fail", HTTP{BodyMatches: `^<html>`}, page, []string{`body_matches: expected text matching /^<html>/, got "<h1>hello</h1>\n"`}},

		{"json pass", HTTP{JSON: map[string]any{"$.id": int64(7), "user.name": "ada", "$.tags": []any{}}}, api, nil},
		{"json fail", HTTP{JSON: map[string]any{"$.id": "7", "$.user.name": "bob", "$.user.age": int64(3)}}, api, []string{
			`json $.id: expected "7", got 7`,
			`json $.user.age: expected 3, got nothing ($.user has no key "age")`,
			`json $.user.name: expected "bob", got "ada"`,
		}},
		{"json on HTML", HTTP{JSON: map[string]any{"$.id": 1}}, page,
			[]string{`json: expected a JSON document, got "<h1>hello</h1>\n" (not JSON: invalid character '<' looking for beginning of value)`}},

		{"order of checks", HTTP{Status: new(200), Headers: map[string]string{"X-Request-Id": "41"}, Body: new(""), BodyContains: []string{"x"}, BodyMatches: "y", JSON: map[string]any{"$": 1}},
			HTTPOutput{Status: 201, Header: page.Header, Body: []byte("2")}, []string{
				`status: expected 200, got 201, body: "2"`,
				`header X-Request-Id: expected "41", got "42"`,
				`body: expected "", got "2"`,
				`body_contains: expected text containing "x", got "2"`,
				`body_matches: expected text matching /y/, got "2"`,
				`json $: expected 1, got 2`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.expect.Check(tc.out)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			wantMessages(t, r, tc.want...)
		})
	}
}

func TestHTTPInvalid(t *testing.T) {
	h := HTTP{BodyMatches: "*", JSON: map[string]any{"$.": 1}, Headers: map[string]string{"x-id": "1", "X-Id": "2", "": "3"}}
	const want = "body_matches: error parsing regexp: missing argument to repetition operator: `*`\n" +
		"json: JSON path \"$.\": missing key after '.'\n" +
		"headers: empty header name\n" +
		"headers: \"X-Id\" is given twice (header names ignore case)"
	if err := h.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
	if _, err := h.Check(HTTPOutput{Status: 200}); err == nil || err.Error() != want {
		t.Errorf("Check() error = %v\nwant %s", err, want)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		got, limit time.Duration
		want       []string
	}{
		{400 * time.Millisecond, 500 * time.Millisecond, nil},
		{500 * time.Millisecond, 500 * time.Millisecond, nil},
		{1200 * time.Millisecond, 500 * time.Millisecond, []string{"max_duration: expected at most 500ms, got 1.2s"}},
		{time.Hour, 0, nil},
	} {
		wantMessages(t, Duration(tc.got, tc.limit), tc.want...)
	}
}

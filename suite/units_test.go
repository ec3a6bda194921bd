package suite_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/suite"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "256MiB", want: 256 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "1gib", want: 1 << 30},
		{in: "1.5GiB", want: 3 << 29},
		{in: "512 KiB", want: 512 << 10},
		{in: "2MB", want: 2_000_000},
		{in: "1024", want: 1024},
		{in: "10B", want: 10},
		{in: "12XB", err: `invalid size "12XB": unknown unit "XB" (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)`},
		{in: "MiB", err: `invalid size "MiB": want a number with an optional unit, such as "256MiB" or "1GiB"`},
		{in: "-1MiB", err: `invalid size "-1MiB": want a number with an optional unit, such as "256MiB" or "1GiB"`},
		{in: "99999999TiB", err: `invalid size "99999999TiB": too large`},
	}
	for _, tt := range tests {
		got, err := suite.ParseSize(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("ParseSize(%q) error = %v, want %s", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestJSONPath(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"user": {"id": 7, "tags": ["a", "b"], "odd key": true}, "n": null}`), &doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, canonical string
		want            any
		err             string
	}{
		{path: "$", canonical: "$", want: doc},
		{path: "user.id", canonical: "$.user.id", want: 7.0},
		{path: "$.user.id", canonical: "$.user.id", want: 7.0},
		{path: `$["user"]["id"]`, canonical: "$.user.id", want: 7.0},
		{path: `user['odd key']`, canonical: `$.user["odd key"]`, want: true},
		{path: `user."odd key"`, canonical: `$.user["odd key"]`, want: true},
		{path: "user.tags[1]", canonical: "$.user.tags[1]", want: "b"},
		{path: "user.tags[-1]", canonical: "$.user.tags[-1]", want: "b"},
		{path: "n", canonical: "$.n", want: nil},
		{path: "user.tags[2]", canonical: "$.user.tags[2]", err: "$.user.tags has 2 elements, no index 2"},
		{path: "user.name", canonical: "$.user.name", err: `$.user has no key "name"`},
		{path: "user.id.x", canonical: "$.user.id.x", err: "$.user.id is a number, not an object"},
		{path: "user[0]", canonical: "$.user[0]", err: "$.user is an object, not an array"},
	}
	for _, tt := range tests {
		p, err := suite.ParseJSONPath(tt.path)
		if err != nil {
			t.Errorf("ParseJSONPath(%q): %v", tt.path, err)
			continue
		}
		if p.String() != tt.canonical {
			t.Errorf("ParseJSONPath(%q).String() = %q, want %q", tt.path, p.String(), tt.canonical)
		}
		got, err := p.Lookup(doc)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Lookup(%q) error = %v, want %s", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Lookup(%q): %v", tt.path, err)
			continue
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(tt.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("Lookup(%q) = %s, want %s", tt.path, gotJSON, wantJSON)
		}
	}
	for path, want := range map[string]string{
		"":          `empty JSON path (use "$" for the whole document)`,
		"a..b":      `JSON path "a..b": unexpected "." after '.' (quote such keys: ["key"])`,
		"a[":        `JSON path "a[": unterminated [`,
		"a[x]":      `JSON path "a[x]": [x]: want an integer index or a quoted key`,
		`a["x]`:     `JSON path "a[\"x]": unterminated quoted key`,
		"a b":       `JSON path "a b": unexpected " ": want .key, [index] or ["key"]`,
		"$x":        `JSON path "$x": unexpected "x": want .key, [index] or ["key"]`,
		`a["x"]b`:   `JSON path "a[\"x\"]b": unexpected "b": want .key, [index] or ["key"]`,
		"a.":        `JSON path "a.": missing key after '.'`,
		"items[+1]": `JSON path "items[+1]": [+1]: want an integer index or a quoted key`,
		// expect words these differently; the suite keeps its wording.
		"a[99999999999999999999]": `JSON path "a[99999999999999999999]": [99999999999999999999]: want an integer index or a quoted key`,
		`a["\q"]`:                 `JSON path "a[\"\\q\"]": bad quoted key "\q"`,
		`a."x`:                    `JSON path "a.\"x": unterminated quoted key`,
		"@a":                      `JSON path "@a": unexpected "@" after '.' (quote such keys: ["key"])`,
		"a.é":                     `JSON path "a.é": unexpected "\xc3" after '.' (quote such keys: ["key"])`,
	} {
		if _, err := suite.ParseJSONPath(path); err == nil || err.Error() != want {
			t.Errorf("ParseJSONPath(%q) error = %v, want %s", path, err, want)
		}
	}
}

func TestParseCapture(t *testing.T) {
	tests := []struct {
		expr   string
		kind   suite.StepKind
		source string
		path   string
		header string
	}{
		{expr: "stdout", kind: suite.StepExec, source: "stdout", path: "$"},
		{expr: "exit_code", kind: suite.StepExec, source: "exit_code", path: "$"},
		{expr: "stdout_json", kind: suite.StepExec, source: "stdout_json", path: "$"},
		{expr: "stdout_json.items[0].id", kind: suite.StepExec, source: "stdout_json", path: "$.items[0].id"},
		{expr: "rows[0][1]", kind: suite.StepSQL, source: "rows", path: "$[0][1]"},
		{expr: `rows[2]["user id"]`, kind: suite.StepSQL, source: "rows", path: `$[2]["user id"]`},
		{expr: "rows[0].id", kind: suite.StepSQL, source: "rows", path: "$[0].id"},
		{expr: "rows_affected", kind: suite.StepSQL, source: "rows_affected", path: "$"},
		{expr: "reply", kind: suite.StepRedis, source: "reply", path: "$"},
		{expr: "reply[1]", kind: suite.StepRedis, source: "reply", path: "$[1]"},
		{expr: "header.content-type", kind: suite.StepHTTP, source: "header", header: "Content-Type", path: "$"},
		{expr: `header["X-Request-Id"]`, kind: suite.StepHTTP, source: "header", header: "X-Request-Id", path: "$"},
		{expr: "json.token", kind: suite.StepHTTP, source: "json", path: "$.token"},
		{expr: `json."a.b"[0]`, kind: suite.StepHTTP, source: "json", path: `$["a.b"][0]`},
		{expr: "status", kind: suite.StepHTTP, source: "status", path: "$"},
		{expr: "body", kind: "", source: "body", path: "$"},
	}
	for _, tt := range tests {
		c, err := suite.ParseCapture(tt.expr, tt.kind)
		if err != nil {
			t.Errorf("ParseCapture(%q, %s): %v", tt.expr, tt.kind, err)
			continue
		}
		if c.Source != tt.source || c.Path.String() != tt.path || c.Header != tt.header {
			t.Errorf("ParseCapture(%q) = source %q path %q header %q; want %q %q %q", tt.expr, c.Source, c.Path.String(), c.Header, tt.source, tt.path, tt.header)
		}
	}
	for _, tt := range []struct {
		expr string
		kind suite.StepKind
		err  string
	}{
		{"", suite.StepExec, `capture "": want one of stdout, stderr, exit_code, stdout_json`},
		{"body", suite.StepExec, `capture "body": body is a result of http steps; an exec step captures stdout, stderr, exit_code, stdout_json`},
		{"repl", suite.StepRedis, `capture "repl": unknown result "repl" — did you mean "reply"?`},
		{"zzz", suite.StepSQL, `capture "zzz": unknown result "zzz"; a sql step captures rows, row_count, rows_affected`},
		{"status[0]", suite.StepHTTP, `capture "status[0]": status takes no path`},
		{"header.a.b", suite.StepHTTP, `capture "header.a.b": want header.Name or header["Name"]`},
		{"rows[0][0][0]", suite.StepSQL, `capture "rows[0][0][0]": want rows[ROW][COLUMN], rows[ROW].name or rows[ROW]["name"]`},
		{"rows.a[0]", suite.StepSQL, `capture "rows.a[0]": want rows[ROW][COLUMN], rows[ROW].name or rows[ROW]["name"]`},
		{"json..a", suite.StepHTTP, `capture "json..a": unexpected "." after '.' (quote such keys: ["key"])`},
		{"json@", suite.StepHTTP, `capture "json@": unexpected "@": want .key, [index] or ["key"]`},
		{`reply["a]`, suite.StepRedis, `capture "reply[\"a]": unterminated quoted key`},
	} {
		if _, err := suite.ParseCapture(tt.expr, tt.kind); err == nil || err.Error() != tt.err {
			t.Errorf("ParseCapture(%q, %s) error = %v, want %s", tt.expr, tt.kind, err, tt.err)
		}
	}
}

// TestInline covers cases where one short suite shows the point better
// than a file: each src gets a common header with two services.
func TestInline(t *testing.T) {
	const header = `
[vars]
name = "ada"
[services.db]
type = "postgres"
[services.web]
type = "generic"
image = "busybox:latest"
ports = [8080]
depends_on = ["db"]
env = { DB = "{{ .services.db.url }}", N = "{{ .vars.name }}", S = "{{ .seed }}" }
[[scenario]]
`
	tests := []struct {
		name, src, want string // want "" means valid
	}{
		{"index with constant key", `[[scenario.step]]
service = "web"
exec = ["echo", "{{ index .vars \"name\" }}", "{{ index .services \"db\" \"host\" }}"]`, ""},
		{"index with undefined key", `[[scenario.step]]
service = "web"
exec = ["echo", "{{ index .vars \"nam\" }}"]`, `:15:17: template uses undefined variable .vars.nam — did you mean .vars.name?`},
		{"with rebinds dot", `[[scenario.step]]
service = "web"
exec = ["echo", "{{ with .services.db }}{{ .host }}{{ end }}"]`, ""},
		{"unknown field after with", `[[scenario.step]]
service = "web"
exec = ["echo", "{{ with .services.db }}{{ .host }}{{ end }}{{ .nope }}"]`, `:15:17: template uses undefined field .nope (templates see .vars, .services and .seed)`},
		{"own capture", `[[scenario.step]]
service = "db"
sql = "SELECT {{ .vars.id }}"
capture = { id = "rows[0][0]" }`, `:15:7: template uses undefined variable .vars.id (it is captured by this step, for the steps after it)`},
		{"fields of vars", `[[scenario.step]]
service = "web"
exec = ["sh", "-c", "echo {{ .vars.name.first }}"]
capture = { name = "stdout_json" }
[[scenario.step]]
service = "web"
exec = ["sh", "-c", "echo {{ .vars.name.first }}"]`, `:15:21: template: .vars.name is a plain value and has no field first`},
		{"deep var", `[[scenario.step]]
service = "web"
exec = ["echo", "{{ .services.db.host.x }}"]`, `:15:17: template: .services.db.host has no field x`},
		{"define", `[[scenario.step]]
service = "web"
exec = ["echo", "{{ define \"x\" }}y{{ end }}"]`, `:15:17: template: {{define}} and {{block}} are not supported in suite files`},
		{"template call", `[[scenario.step]]
service = "web"
exec = ["echo", "{{ template \"x\" }}"]`, `:15:17: template: {{template}} is not supported in suite files`},
		{"capture visible after its step only", `[[scenario.step]]
service = "db"
sql = "SELECT {{ .vars.id }}"
[[scenario.step]]
name = "make id"
service = "db"
sql = "SELECT 1"
capture = { id = "rows[0][0]" }
[[scenario.step]]
service = "db"
sql = "SELECT {{ .vars.id }}"`, `:15:7: template uses undefined variable .vars.id (it is captured by step "make id", after this one)`},
		{"capture not visible in the next scenario", `[[scenario.step]]
service = "db"
sql = "SELECT 1"
capture = { id = "rows[0][0]" }
[[scenario]]
[[scenario.step]]
service = "db"
sql = "SELECT {{ .vars.id }}"`, `:20:7: template uses undefined variable .vars.id (define it in [vars] or capture it in an earlier step)`},
		{"expectations are templates", `[[scenario.step]]
service = "web"
exec = ["true"]
expect = { stdout = "{{ .vars.nope }}" }`, `:16:21: template uses undefined variable .vars.nope (define it in [vars] or capture it in an earlier step)`},
		{"json literal strings are templates", `[[scenario.step]]
http = { service = "web", json = { a = ["{{ .vars.x }}"] } }`, `:14:41: template uses undefined variable .vars.x (define it in [vars] or capture it in an earlier step)`},
		{"wait exec with a service it does not depend on", `[[scenario.step]]
service = "web"
exec = ["true"]
[services.other]
type = "generic"
image = "busybox"
wait = { exec = ["sh", "-c", "{{ .services.web.address }}"] }`, `:19:30: template uses .services.web, but service "other" does not depend on it: add "web" to depends_on`},
		{"multi-line arrays and inline tables keep positions", `[[scenario.step]]
service = "web"
exec = [
  "echo", # a comment, with a comma
  [ "nested" ],
  { a = 1 },
  "{{ .vars.missing }}",
]`, `:17:3: "exec" must be an array of strings; this item is an array
:18:3: "exec" must be an array of strings; this item is a table`},
		{"nested arrays keep positions", `[[scenario.step]]
service = "db"
sql = "SELECT 1"
expect = { rows = [
  [1, "{{ .vars.a }}"], # a comment, with a comma
  [ # another
    "x", [2, "{{ .vars.b }}"]] ] }`, `:17:7: template uses undefined variable .vars.a (define it in [vars] or capture it in an earlier step)
:19:14: template uses undefined variable .vars.b (define it in [vars] or capture it in an earlier step)`},
		{"dotted keys build tables", `[[scenario.step]]
service = "web"
exec = ["true"]
expect.stdout = "x"
expect.exit_kode = 1`, `:17:8: unknown key "exit_kode" — did you mean "exit_code"?`},
		{"date value", `[[scenario.step]]
service = "web"
exec = ["true"]
expect = { stdout_json = { "a" = 1979-05-27 } }`, `:16:34: dates and times are not supported here: write the value as a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := header + tt.src + "\n"
			_, err := suite.Parse("x.cleanroom.toml", []byte(src))
			got := ""
			if err != nil {
				got = strings.ReplaceAll(err.Error(), "x.cleanroom.toml", "")
			}
			if got != tt.want {
				t.Errorf("errors:\n%s\nwant:\n%s\n--- source\n%s", got, tt.want, numbered(src))
			}
		})
	}
}

func numbered(src string) string {
	var b strings.Builder
	for i, line := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, line)
	}
	return b.String()
}

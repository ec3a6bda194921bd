package expect

import (
	"errors"
	"regexp/syntax"
	"strings"
	"testing"
)

func TestExec(t *testing.T) {
	out := ExecOutput{ExitCode: 0, Stdout: []byte("hello\n"), Stderr: []byte("warn: disk low\n")}
	failed := ExecOutput{ExitCode: 3, Stdout: []byte("hello\n"), Stderr: []byte("sh: frob: not found\n")}
	jsonOut := ExecOutput{Stdout: []byte(`{"user": {"name": "ada", "id": 7, "admin": false}, "tags": ["x", "y"], "ratio": 0.5}` + "\n")}

	for _, tc := range []struct {
		name   string
		expect Exec
		out    ExecOutput
		want   []string
	}{
		{"no expectations, exit 0", Exec{}, out, nil},
		{"no expectations means exit 0", Exec{}, failed,
			[]string{`exit_code: expected 0, got 3, stderr: "sh: frob: not found\n"`}},
		{"exit code without stderr", Exec{}, ExecOutput{ExitCode: 1}, []string{"exit_code: expected 0, got 1"}},
		{"exit_code pass", Exec{ExitCode: new(3)}, failed, nil},
		{"exit_code fail", Exec{ExitCode: new(3)}, out, []string{`exit_code: expected 3, got 0, stderr: "warn: disk low\n"`}},
		{"exit_code long stderr keeps its end", Exec{}, ExecOutput{ExitCode: 2, Stderr: []byte(strings.Repeat("x", 600) + "the reason\n")},
			[]string{`exit_code: expected 0, got 2, stderr: (last 512 of 611 bytes) "` + strings.Repeat("x", 501) + `the reason\n"`}},

		{"stdout pass", Exec{Stdout: new("hello\n")}, out, nil},
		{"stdout fail", Exec{Stdout: new("hello")}, out, []string{`stdout: expected "hello", got "hello\n"`}},
		{"stdout empty expected", Exec{Stdout: new("")}, out, []string{`stdout: expected "", got "hello\n"`}},
		{"stderr pass", Exec{Stderr: new("warn: disk low\n")}, out, nil},
		{"stderr fail", Exec{Stderr: new("")}, out, []string{`stderr: expected "", got "warn: disk low\n"`}},

		{"stdout_contains pass", Exec{StdoutContains: []string{"hell", "lo\n"}}, out, nil},
		{"stdout_contains reports each missing item", Exec{StdoutContains: []string{"bye", "hell", "world"}}, out, []string{
			`stdout_contains: expected text containing "bye", got "hello\n"`,
			`stdout_contains: expected text containing "world", got "hello\n"`,
		}},
		{"stderr_contains pass", Exec{StderrContains: []string{"warn"}}, out, nil},
		{"stderr_contains fail", Exec{StderrContains: []string{"error"}}, out,
			[]string{`stderr_contains: expected text containing "error", got "warn: disk low\n"`}},

		{"stdout_matches pass", Exec{StdoutMatches: `^h.l+o$`}, out, nil},
		{"stdout_matches fail", Exec{StdoutMatches: `^\d+$`}, out, []string{`stdout_matches: expected text matching /^\d+$/, got "hello\n"`}},
		{"stdout_matches is multi-line", Exec{StdoutMatches: `^b$`}, ExecOutput{Stdout: []byte("a\nb\nc\n")}, nil},
		{"stdout_matches whole text anchors", Exec{StdoutMatches: `\Ab\z`}, ExecOutput{Stdout: []byte("a\nb\nc\n")},
			[]string{`stdout_matches: expected text matching /\Ab\z/, got "a\nb\nc\n"`}},
		{"stderr_matches pass", Exec{StderrMatches: `disk (low|full)`}, out, nil},
		{"stderr_matches fail", Exec{StderrMatches: `^error`}, out, []string{`stderr_matches: expected text matching /^error/, got "warn: disk low\n"`}},

		{"stdout_json pass", Exec{StdoutJSON: map[string]any{
			"$.user.name": "ada", "user.id": int64(7), "$.user.admin": false, "$.tags": []any{"x", "y"}, "$.tags[-1]": "y", "$.ratio": 0.5,
		}}, jsonOut, nil},
		{"stdout_json number equals float", Exec{StdoutJSON: map[string]any{"$.user.id": 7.0}}, jsonOut, nil},
		{"stdout_json string is not a number", Exec{StdoutJSON: map[string]any{"$.user.id": "7"}}, jsonOut,
			[]string{`stdout_json $.user.id: expected "7", got 7`}},
		{"stdout_json failures in path order", Exec{StdoutJSON: map[string]any{
			"$.user.name": "bob", "$.user.email": "a@b", "$.tags[2]": "z", "$.user.name.first": "x", "$.tags": []any{"x"},
		}}, jsonOut, []string{
			`stdout_json $.tags: expected ["x"], got ["x", "y"]`,
			`stdout_json $.tags[2]: expected "z", got nothing ($.tags has 2 elements, no index 2)`,
			`stdout_json $.user.email: expected "a@b", got nothing ($.user has no key "email")`,
			`stdout_json $.user.name: expected "bob", got "ada"`,
			`stdout_json $.user.name.first: expected "x", got nothing ($.user.name is a string, not an object)`,
		}},
		{"stdout_json nested difference", Exec{StdoutJSON: map[string]any{"$.user": map[string]any{"name": "ada", "id": 8, "admin": false}}}, jsonOut,
			[]string{`stdout_json $.user.id: expected 8, got 7`}},
		{"stdout_json not JSON", Exec{StdoutJSON: map[string]any{"$.a": 1}}, out,
			[]string{`stdout_json: expected a JSON document, got "hello\n" (not JSON: invalid character 'h' looking for beginning of value)`}},

		{"order of checks", Exec{Stdout: new("bye\n"), StderrContains: []string{"error"}, StdoutContains: []string{"bye"}}, failed, []string{
			`exit_code: expected 0, got 3, stderr: "sh: frob: not found\n"`,
			`stdout: expected "bye\n", got "hello\n"`,
			`stdout_contains: expected text containing "bye", got "hello\n"`,
			`stderr_contains: expected text containing "error", got "sh: frob: not found\n"`,
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

func TestExecMultiLineStdoutDiff(t *testing.T) {
	r, err := Exec{Stdout: new("one\ntwo\nthree\n")}.Check(ExecOutput{Stdout: []byte("one\n2\nthree\n")})
	if err != nil {
		t.Fatal(err)
	}
	wantMessages(t, r, "stdout: expected and got differ:\n--- expected\n+++ got\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three")
}

func TestExecInvalid(t *testing.T) {
	e := Exec{StdoutMatches: "(", StderrMatches: "[a-", StdoutJSON: map[string]any{"a..b": 1, "$.ok": 2, "$[x]": 3}}
	const want = "stdout_matches: error parsing regexp: missing closing ): `(`\n" +
		"stderr_matches: error parsing regexp: missing closing ]: `[a-`\n" +
		"stdout_json: JSON path \"$[x]\": [x]: want an integer index or a quoted key\n" +
		"stdout_json: JSON path \"a..b\": unexpected \".\" after '.' (quote such keys: .\"key\")"
	if err := e.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
	r, err := e.Check(ExecOutput{ExitCode: 1})
	if err == nil || err.Error() != want || !r.OK() {
		t.Errorf("Check() = %v, %v; want no failures and the validation error", r, err)
	}
	var re *syntax.Error
	var pe *PathError
	if !errors.As(err, &re) || !errors.As(err, &pe) {
		t.Errorf("error %v does not wrap *syntax.Error and *PathError", err)
	}
	if err := (Exec{StdoutMatches: "ok", StdoutJSON: map[string]any{"$": 1}}).Validate(); err != nil {
		t.Errorf("valid expectations: Validate() = %v", err)
	}
}

func TestCompilePattern(t *testing.T) {
	re, err := CompilePattern(`^ok$`)
	if err != nil {
		t.Fatal(err)
	}
	if !re.MatchString("ok\n") || !re.MatchString("warming up\nok\n") {
		t.Errorf("%s does not match line by line", re)
	}
	if _, err := CompilePattern(`a(`); err == nil || err.Error() != "error parsing regexp: missing closing ): `a(`" {
		t.Errorf("CompilePattern(`a(`) error = %v", err)
	}
}

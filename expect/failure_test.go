package expect

import (
	"errors"
	"testing"
)

func TestFailureString(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Failure
		want string
	}{
		{"one line", Failure{Check: "stdout", Expected: `"hello\n"`, Got: `"helo\n"`}, `stdout: expected "hello\n", got "helo\n"`},
		{"with diff", Failure{Check: "stdout", Expected: `"a\nb\n"`, Got: `"a\nc\n"`, Diff: "--- expected\n+++ got\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"},
			"stdout: expected and got differ:\n--- expected\n+++ got\n@@ -1,2 +1,2 @@\n a\n-b\n+c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got := tc.f.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResult(t *testing.T) {
	var ok Result
	if !ok.OK() || ok.String() != "ok" || ok.Err() != nil {
		t.Errorf("zero Result: OK %v, String %q, Err %v; want a pass", ok.OK(), ok.String(), ok.Err())
	}

	a := Result{Failures: []Failure{{Check: "exit_code", Expected: "0", Got: "1"}}}
	b := Duration(2e9, 1e9)
	r := Join(a, ok, b)
	const want = "exit_code: expected 0, got 1\nmax_duration: expected at most 1s, got 2s"
	if r.OK() || r.String() != want {
		t.Errorf("Join: OK %v, String %q; want failed with %q", r.OK(), r.String(), want)
	}
	var e *Error
	if err := r.Err(); !errors.As(err, &e) || len(e.Failures) != 2 || err.Error() != want {
		t.Errorf("Err() = %v; want an *Error with 2 failures rendering %q", err, want)
	}
}

package expect

import (
	"strings"
)

// Failure is one expectation that did not hold.
type Failure struct {
	// Check names what was checked, as the suite format spells it, with the
	// place inside the value where it first differed: "stdout",
	// "exit_code", "rows[1][0]", "json $.user.name", "header Content-Type",
	// "max_duration".
	Check string
	// Expected and Got describe the two sides: values rendered by Format
	// (strings quoted, numbers plain, null) or a phrase such as
	// `text containing "warn"` or "2xx or 3xx". Got may carry what
	// explains it after the value: a wrong exit code the end of stderr
	// (`3, stderr: "…"`), a wrong status the start of the body, a missing
	// JSON value the reason (`nothing ($.user has no key "name")`).
	Expected string
	Got      string
	// Diff is a unified line diff from expected to got ("--- expected",
	// "+++ got", @@ hunks), set when a text spans more than one line on
	// either side or a long array or object differs in length (see Value);
	// empty otherwise.
	Diff string
}

// String renders the failure as one line, "check: expected E, got G", or,
// when it has a Diff, as "check: expected and got differ:" followed by the
// diff.
func (f Failure) String() string {
	if f.Diff != "" {
		return f.Check + ": expected and got differ:\n" + strings.TrimSuffix(f.Diff, "\n")
	}
	return f.Check + ": expected " + f.Expected + ", got " + f.Got
}

// Error makes a Failure usable as an error; it returns String.
func (f Failure) Error() string { return f.String() }

// Result is the outcome of checking one output: the failures in the order
// the checks ran. The zero Result is a pass.
type Result struct {
	Failures []Failure
}

// OK reports whether every check passed.
func (r Result) OK() bool { return len(r.Failures) == 0 }

// String renders every failure, one after the other on separate lines, or
// "ok" when there is none.
func (r Result) String() string {
	if r.OK() {
		return "ok"
	}
	return joinFailures(r.Failures)
}

// Err returns nil when every check passed and an *Error holding the failures
// otherwise, for callers that speak error (t.Fatal(res.Err())).
func (r Result) Err() error {
	if r.OK() {
		return nil
	}
	return &Error{Failures: r.Failures}
}

// Join combines results, keeping the order of their failures; the runner
// joins a step's own checks with Duration.
func Join(results ...Result) Result {
	var out Result
	for _, r := range results {
		out.Failures = append(out.Failures, r.Failures...)
	}
	return out
}

func (r *Result) add(f Failure) { r.Failures = append(r.Failures, f) }

// Error is the error form of a failed Result; errors.As finds it.
type Error struct {
	Failures []Failure
}

// Error renders every failure on its own line (or lines, for diffs).
func (e *Error) Error() string { return joinFailures(e.Failures) }

func joinFailures(fs []Failure) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.String())
	}
	return b.String()
}

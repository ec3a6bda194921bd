package expect

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CompilePattern compiles a stdout_matches, stderr_matches or body_matches
// pattern: RE2 syntax (package regexp) in multi-line mode, so ^ and $ match
// at the start and end of every line and "^ok$" matches the output "ok\n";
// \A and \z match the ends of the whole text. Validation and checks share
// it, so a pattern that validates is one that runs.
func CompilePattern(pattern string) (*regexp.Regexp, error) {
	// Compiled as written first, so that an error quotes the user's
	// pattern rather than ours with its (?m).
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, err
	}
	return regexp.Compile("(?m)" + pattern)
}

// jsonCheck is one parsed "path = value" of stdout_json or json.
type jsonCheck struct {
	path Path
	want any
}

// compileJSON parses the paths of m, in sorted order so that failures come
// in a stable order.
func compileJSON(name string, m map[string]any) ([]jsonCheck, error) {
	var out []jsonCheck
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p, err := ParsePath(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		out = append(out, jsonCheck{path: p, want: m[k]})
	}
	return out, errors.Join(errs...)
}

// compilePattern compiles pattern unless it is empty (not asserted).
func compilePattern(name, pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := CompilePattern(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return re, nil
}

// textExpect is what an exec stream or an HTTP body may expect; name is
// "stdout", "stderr" or "body", and the other checks are named after it
// (stdout_contains, body_matches, …).
type textExpect struct {
	name     string
	exact    *string
	contains []string
	pattern  string
	re       *regexp.Regexp
}

func (t textExpect) check(r *Result, got []byte) {
	text := string(got)
	if t.exact != nil {
		*r = Join(*r, Text(t.name, *t.exact, text))
	}
	for _, want := range t.contains {
		if !strings.Contains(text, want) {
			r.add(Failure{Check: t.name + "_contains", Expected: "text containing " + strconv.Quote(want), Got: excerpt(got, maxExcerpt, false)})
		}
	}
	if t.re != nil && !t.re.MatchString(text) {
		r.add(Failure{Check: t.name + "_matches", Expected: "text matching /" + t.pattern + "/", Got: excerpt(got, maxExcerpt, false)})
	}
}

// checkJSON decodes data as one JSON document and checks each path of
// checks in it; name is "stdout_json" or "json".
func checkJSON(r *Result, name string, data []byte, checks []jsonCheck) {
	if len(checks) == 0 {
		return
	}
	doc, err := DecodeJSON(data)
	if err != nil {
		r.add(Failure{Check: name, Expected: "a JSON document", Got: excerpt(data, 512, false) + " (not JSON: " + err.Error() + ")"})
		return
	}
	for _, c := range checks {
		check := name + " " + c.path.text
		got, err := c.path.Lookup(doc)
		if err != nil {
			r.add(Failure{Check: check, Expected: Format(c.want), Got: "nothing (" + err.Error() + ")"})
			continue
		}
		*r = Join(*r, Value(check, c.want, got))
	}
}

// maxExcerpt bounds how much of an output a contains or matches failure
// quotes: enough to see what came, not a whole download in a console. The
// runner reports outputs in full elsewhere.
const maxExcerpt = 4096

// excerpt quotes b, or when it is longer than n bytes its first (or, with
// fromEnd, its last) n bytes with a note saying so.
func excerpt(b []byte, n int, fromEnd bool) string {
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	if fromEnd {
		start := len(b) - n
		for start < len(b) && !utf8.RuneStart(b[start]) {
			start++
		}
		return fmt.Sprintf("(last %d of %d bytes) %s", len(b)-start, len(b), strconv.Quote(string(b[start:])))
	}
	end := n
	for end > 0 && !utf8.RuneStart(b[end]) {
		end--
	}
	return fmt.Sprintf("(first %d of %d bytes) %s", end, len(b), strconv.Quote(string(b[:end])))
}

// checkError is the shared error handling of SQL and Redis steps: with
// no ErrorContains an error is a failure, with it an error must come and
// contain each item. It reports whether the step failed as expected or
// unexpectedly, so that its other expectations no longer apply.
func checkError(r *Result, err error, contains []string) (done bool) {
	switch {
	case err != nil && len(contains) == 0:
		r.add(Failure{Check: "error", Expected: "no error", Got: err.Error()})
		return true
	case err == nil && len(contains) > 0:
		for _, want := range contains {
			r.add(Failure{Check: "error_contains", Expected: "an error containing " + strconv.Quote(want), Got: "no error"})
		}
		return true
	case err != nil:
		msg := err.Error()
		for _, want := range contains {
			if !strings.Contains(msg, want) {
				r.add(Failure{Check: "error_contains", Expected: "an error containing " + strconv.Quote(want), Got: msg})
			}
		}
		return true
	}
	return false
}

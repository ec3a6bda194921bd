package expect

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Exec is what an exec step expects of a finished command. Nil and empty
// fields are not asserted, except ExitCode.
type Exec struct {
	// ExitCode is the expected exit status; nil means 0, because a step
	// with no expectations must at least succeed.
	ExitCode *int
	// Stdout and Stderr, when set, must equal the streams exactly.
	Stdout, Stderr *string
	// StdoutContains and StderrContains must each appear in the stream;
	// every missing item is its own failure.
	StdoutContains, StderrContains []string
	// StdoutMatches and StderrMatches are patterns (see CompilePattern)
	// the stream must match somewhere; "" is not asserted.
	StdoutMatches, StderrMatches string
	// StdoutJSON maps JSON paths (see Path) to the values stdout, read as
	// one JSON document, must hold there, compared by Equal. Paths are
	// checked in sorted order.
	StdoutJSON map[string]any
}

// ExecOutput is what a command produced.
type ExecOutput struct {
	ExitCode       int    // the process's exit status
	Stdout, Stderr []byte // everything it wrote to each stream
}

type execCompiled struct {
	stdoutRE, stderrRE *regexp.Regexp
	stdoutJSON         []jsonCheck
}

func (e Exec) compile() (execCompiled, error) {
	var c execCompiled
	var err1, err2, err3 error
	c.stdoutRE, err1 = compilePattern("stdout_matches", e.StdoutMatches)
	c.stderrRE, err2 = compilePattern("stderr_matches", e.StderrMatches)
	c.stdoutJSON, err3 = compileJSON("stdout_json", e.StdoutJSON)
	return c, errors.Join(err1, err2, err3)
}

// Validate reports every pattern that does not compile and every JSON path
// that does not parse, joined; Check returns the same error before
// checking anything.
func (e Exec) Validate() error {
	_, err := e.compile()
	return err
}

// Check checks out against e, in the order exit_code, stdout, stdout_contains,
// stdout_matches, stdout_json, stderr, stderr_contains, stderr_matches. A
// wrong exit code quotes the end of stderr in Got, since that is where
// commands say why they failed.
func (e Exec) Check(out ExecOutput) (Result, error) {
	c, err := e.compile()
	if err != nil {
		return Result{}, err
	}
	var r Result
	want := 0
	if e.ExitCode != nil {
		want = *e.ExitCode
	}
	if out.ExitCode != want {
		got := strconv.Itoa(out.ExitCode)
		if len(out.Stderr) > 0 {
			got += ", stderr: " + excerpt(out.Stderr, 512, true)
		}
		r.add(Failure{Check: "exit_code", Expected: strconv.Itoa(want), Got: got})
	}
	textExpect{name: "stdout", exact: e.Stdout, contains: e.StdoutContains, pattern: e.StdoutMatches, re: c.stdoutRE}.check(&r, out.Stdout)
	checkJSON(&r, "stdout_json", out.Stdout, c.stdoutJSON)
	textExpect{name: "stderr", exact: e.Stderr, contains: e.StderrContains, pattern: e.StderrMatches, re: c.stderrRE}.check(&r, out.Stderr)
	return r, nil
}

// SQL is what a sql step expects of a statement. Nil and empty fields are
// not asserted; a statement that fails is a failure unless ErrorContains
// is set.
type SQL struct {
	// Rows are the expected result rows, in order, each cell compared by
	// Equal; an empty non-nil slice expects no rows. A failure names the
	// first differing cell ("rows[1][0]"), or the whole rows when their
	// number differs, or the row when its number of columns differs.
	Rows [][]any
	// RowCount is the expected number of result rows.
	RowCount *int
	// RowsAffected is the expected count the command tag reports.
	RowsAffected *int64
	// ErrorContains, when not empty, expects the statement to fail with
	// an error whose message contains every item; the other fields then
	// do not apply.
	ErrorContains []string
}

// SQLOutput is what a statement returned. Cells are as pgx's Rows.Values
// gives them: int16, int32, int64, float32, float64, string, bool, nil,
// time.Time, []byte, [16]byte for uuid, pgtype.Numeric and other pgtype
// values, decoded JSON for json and jsonb; see Equal for how each compares.
type SQLOutput struct {
	Rows         [][]any // result rows, each cell as pgx returns it
	RowsAffected int64   // from the command tag
	Err          error   // the statement's error, if it failed
}

// Check checks out against s: the error first, then rows, row_count and
// rows_affected.
func (s SQL) Check(out SQLOutput) Result {
	var r Result
	if checkError(&r, out.Err, s.ErrorContains) {
		return r
	}
	if s.Rows != nil {
		r = Join(r, Value("rows", s.Rows, out.Rows))
	}
	if s.RowCount != nil && *s.RowCount != len(out.Rows) {
		r.add(Failure{Check: "row_count", Expected: strconv.Itoa(*s.RowCount), Got: strconv.Itoa(len(out.Rows))})
	}
	if s.RowsAffected != nil && *s.RowsAffected != out.RowsAffected {
		r.add(Failure{Check: "rows_affected", Expected: strconv.FormatInt(*s.RowsAffected, 10), Got: strconv.FormatInt(out.RowsAffected, 10)})
	}
	return r
}

// Redis is what a redis step expects of a command. A command that fails is
// a failure unless ErrorContains is set.
type Redis struct {
	// Reply is the expected reply, compared by Equal: "OK" matches the
	// status reply OK, arrays compare element by element, numbers by
	// value. nil is not asserted; Null{} expects a nil reply.
	Reply any
	// ErrorContains, when not empty, expects the command to fail with an
	// error whose message contains every item.
	ErrorContains []string
}

// RedisOutput is what go-redis's Do returned: Reply is its Val() (string,
// int64, float64, bool, []any, map[any]any, *big.Int or nil) and Err its
// Err(). go-redis reports a nil reply as the error redis.Nil; an error
// whose text is "redis: nil" is taken for a nil reply, not a failure.
type RedisOutput struct {
	Reply any   // the reply value
	Err   error // the command's error, if it failed
}

// Check checks out against x: the error first, then the reply.
func (x Redis) Check(out RedisOutput) Result {
	if out.Err != nil && out.Err.Error() == "redis: nil" {
		out = RedisOutput{}
	}
	var r Result
	if checkError(&r, out.Err, x.ErrorContains) {
		return r
	}
	if x.Reply != nil {
		r = Join(r, Value("reply", x.Reply, out.Reply))
	}
	return r
}

// HTTP is what an http step expects of a response. Nil and empty fields
// are not asserted, except Status.
type HTTP struct {
	// Status is the expected status code; nil means any 2xx or 3xx
	// (200–399), because a step with no expectations must at least
	// succeed.
	Status *int
	// Headers maps header names (any case) to a value the header must
	// have: one of its values, or all of them joined by ", ", must equal it
	// exactly.
	Headers map[string]string
	// Body, when set, must equal the body exactly.
	Body *string
	// BodyContains must each appear in the body; every missing item is
	// its own failure.
	BodyContains []string
	// BodyMatches is a pattern (see CompilePattern) the body must match
	// somewhere; "" is not asserted.
	BodyMatches string
	// JSON maps JSON paths (see Path) to the values the body, read as one
	// JSON document, must hold there, compared by Equal. Paths are checked
	// in sorted order.
	JSON map[string]any
}

// HTTPOutput is a response as the runner read it.
type HTTPOutput struct {
	Status int         // the status code
	Header http.Header // response headers; keys need not be canonical
	Body   []byte      // the whole body
}

type httpCompiled struct {
	bodyRE  *regexp.Regexp
	json    []jsonCheck
	headers []string // canonical names, sorted
	values  map[string]string
}

func (h HTTP) compile() (httpCompiled, error) {
	var c httpCompiled
	var errs []error
	var err error
	if c.bodyRE, err = compilePattern("body_matches", h.BodyMatches); err != nil {
		errs = append(errs, err)
	}
	if c.json, err = compileJSON("json", h.JSON); err != nil {
		errs = append(errs, err)
	}
	c.values = make(map[string]string, len(h.Headers))
	for _, name := range slices.Sorted(maps.Keys(h.Headers)) {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if name == "" {
			errs = append(errs, errors.New("headers: empty header name"))
			continue
		}
		if _, dup := c.values[canon]; dup {
			errs = append(errs, fmt.Errorf("headers: %q is given twice (header names ignore case)", canon))
			continue
		}
		c.values[canon] = h.Headers[name]
		c.headers = append(c.headers, canon)
	}
	slices.Sort(c.headers)
	return c, errors.Join(errs...)
}

// Validate reports a pattern that does not compile, JSON paths that do not
// parse and header names given twice, joined; Check returns the same error
// before checking anything.
func (h HTTP) Validate() error {
	_, err := h.compile()
	return err
}

// Check checks out against h, in the order status, headers (sorted by
// name), body, body_contains, body_matches, json. A wrong status quotes the
// start of the body in Got, where servers say why.
func (h HTTP) Check(out HTTPOutput) (Result, error) {
	c, err := h.compile()
	if err != nil {
		return Result{}, err
	}
	var r Result
	var statusOK bool
	var want string
	if h.Status != nil {
		statusOK, want = out.Status == *h.Status, strconv.Itoa(*h.Status)
	} else {
		statusOK, want = out.Status >= 200 && out.Status < 400, "2xx or 3xx"
	}
	if !statusOK {
		got := strconv.Itoa(out.Status)
		if len(out.Body) > 0 {
			got += ", body: " + excerpt(out.Body, 512, false)
		}
		r.add(Failure{Check: "status", Expected: want, Got: got})
	}
	for _, name := range c.headers {
		checkHeader(&r, name, c.values[name], out.Header)
	}
	textExpect{name: "body", exact: h.Body, contains: h.BodyContains, pattern: h.BodyMatches, re: c.bodyRE}.check(&r, out.Body)
	checkJSON(&r, "json", out.Body, c.json)
	return r, nil
}

func checkHeader(r *Result, name, want string, header http.Header) {
	var got []string
	for k, vs := range header {
		// Compared without regard to case, since a header map built by
		// hand need not hold canonical keys.
		if strings.EqualFold(k, name) {
			got = append(got, vs...)
		}
	}
	if slices.Contains(got, want) || (len(got) > 1 && strings.Join(got, ", ") == want) {
		return
	}
	f := Failure{Check: "header " + name, Expected: strconv.Quote(want)}
	switch len(got) {
	case 0:
		f.Got = "no such header"
	case 1:
		f.Got = strconv.Quote(got[0])
	default:
		f.Got = Format(got)
	}
	r.add(f)
}

// Duration checks a step's max_duration: got must not exceed limit. A
// limit of zero or less is not asserted.
func Duration(got, limit time.Duration) Result {
	if limit <= 0 || got <= limit {
		return Result{}
	}
	return Result{Failures: []Failure{{Check: "max_duration", Expected: "at most " + limit.String(), Got: got.String()}}}
}

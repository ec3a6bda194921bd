package suite

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
)

// Capture stores part of a step's result in .vars.NAME for the steps after
// it in the same scenario. The expression's grammar, by step kind:
//
//	exec:  stdout | stderr | exit_code | stdout_json [segments]
//	sql:   rows "[" row "]" ( "[" column "]" | "." name | "[" quoted "]" )
//	       | row_count | rows_affected
//	redis: reply [segments]
//	http:  status | body | header "." Name | header "[" quoted "]" | json [segments]
//
// segments are those of a JSONPath (".key", "[0]", `["key"]`, `."key"`):
// stdout_json and json read the output as JSON, reply indexes array replies,
// rows take a row index and then a column index or a column name. stdout and
// stderr are captured with trailing newlines removed.
type Capture struct {
	Name   string // the variable: .vars.Name
	Expr   string // as written
	Pos    Pos    // of the expression
	Source string // one of the Capture* sources
	Path   JSONPath
	Header string // canonical header name, for CaptureHeader
}

// Capture sources.
const (
	CaptureStdout       = "stdout"
	CaptureStderr       = "stderr"
	CaptureExitCode     = "exit_code"
	CaptureStdoutJSON   = "stdout_json"
	CaptureRows         = "rows"
	CaptureRowCount     = "row_count"
	CaptureRowsAffected = "rows_affected"
	CaptureReply        = "reply"
	CaptureStatus       = "status"
	CaptureBody         = "body"
	CaptureHeader       = "header"
	CaptureJSON         = "json"
)

var captureSources = map[StepKind][]string{
	StepExec:  {CaptureStdout, CaptureStderr, CaptureExitCode, CaptureStdoutJSON},
	StepSQL:   {CaptureRows, CaptureRowCount, CaptureRowsAffected},
	StepRedis: {CaptureReply},
	StepHTTP:  {CaptureStatus, CaptureBody, CaptureHeader, CaptureJSON},
}

// withPath are the sources followed by path segments.
var withPath = []string{CaptureStdoutJSON, CaptureJSON, CaptureReply, CaptureRows, CaptureHeader}

// ParseCapture parses a capture expression for a step of kind; kind ""
// accepts every source.
func ParseCapture(expr string, kind StepKind) (Capture, error) {
	c := Capture{Expr: expr}
	n := 0
	for n < len(expr) && (expr[n] == '_' || (expr[n] >= 'a' && expr[n] <= 'z')) {
		n++
	}
	c.Source = expr[:n]
	rest := expr[n:]
	var all []string
	for _, k := range []StepKind{StepExec, StepSQL, StepRedis, StepHTTP} {
		all = append(all, captureSources[k]...)
	}
	valid := all
	if kind != "" {
		valid = captureSources[kind]
	}
	if !slices.Contains(valid, c.Source) {
		if c.Source == "" {
			return c, fmt.Errorf("capture %q: want one of %s", expr, strings.Join(valid, ", "))
		}
		for k, srcs := range captureSources {
			if slices.Contains(srcs, c.Source) {
				return c, fmt.Errorf("capture %q: %s is a result of %s steps; %s step captures %s", expr, c.Source, k, kind.article(), strings.Join(valid, ", "))
			}
		}
		msg := fmt.Sprintf("capture %q: unknown result %q", expr, c.Source)
		if s := suggest(c.Source, valid); s != "" {
			return c, fmt.Errorf("%s — did you mean %q?", msg, s)
		}
		if kind == "" {
			return c, fmt.Errorf("%s; want one of %s", msg, strings.Join(valid, ", "))
		}
		return c, fmt.Errorf("%s; %s step captures %s", msg, kind.article(), strings.Join(valid, ", "))
	}
	if rest != "" && !slices.Contains(withPath, c.Source) {
		return c, fmt.Errorf("capture %q: %s takes no path", expr, c.Source)
	}
	var err error
	if c.Path, err = parseSegments(rest); err != nil {
		return c, fmt.Errorf("capture %q: %w", expr, err)
	}
	elems := c.Path.Elems()
	switch c.Source {
	case CaptureRows:
		if len(elems) != 2 || !elems[0].IsIndex {
			return c, fmt.Errorf("capture %q: want rows[ROW][COLUMN], rows[ROW].name or rows[ROW][\"name\"]", expr)
		}
	case CaptureHeader:
		if len(elems) != 1 || elems[0].IsIndex || elems[0].Key == "" {
			return c, fmt.Errorf("capture %q: want header.Name or header[\"Name\"]", expr)
		}
		c.Header = textproto.CanonicalMIMEHeaderKey(elems[0].Key)
		c.Path = JSONPath{}
	}
	return c, nil
}

package runner

import (
	"regexp"

	"github.com/cleanroomhq/cleanroom/expect"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

// check maps a step's expectations onto the expect package and runs them
// against the outcome. Templates in expectations render with the same data
// as the step, so an expectation may refer to a captured value.
func check(st *suite.Step, o outcome, data map[string]any) []*report.Failure {
	e := st.Expect
	var res expect.Result
	var err error
	switch st.Kind {
	case suite.StepExec:
		x := expect.Exec{
			StdoutMatches: pattern(e.StdoutMatches), StderrMatches: pattern(e.StderrMatches),
			StdoutJSON: jsonChecks(e.StdoutJSON, data),
		}
		if e.ExitCode.IsSet() {
			x.ExitCode = &e.ExitCode.Value
		}
		x.Stdout, x.Stderr = renderOpt(e.Stdout, data), renderOpt(e.Stderr, data)
		x.StdoutContains, x.StderrContains = renderList(e.StdoutContains, data), renderList(e.StderrContains, data)
		res, err = x.Check(expect.ExecOutput{ExitCode: o.exec.ExitCode, Stdout: o.exec.Stdout, Stderr: o.exec.Stderr})
	case suite.StepSQL:
		x := expect.SQL{ErrorContains: renderList(e.ErrorContains, data)}
		if e.Rows.IsSet() {
			rows, _ := suite.RenderLiteral(toAny(e.Rows.Value), data)
			x.Rows = fromAny(rows)
		}
		if e.RowCount.IsSet() {
			x.RowCount = &e.RowCount.Value
		}
		if e.RowsAffected.IsSet() {
			n := int64(e.RowsAffected.Value)
			x.RowsAffected = &n
		}
		res = x.Check(expect.SQLOutput{Rows: o.rows, RowsAffected: o.rowsAffected, Err: o.serverErr})
	case suite.StepRedis:
		x := expect.Redis{ErrorContains: renderList(e.ErrorContains, data)}
		if e.Reply.IsSet() {
			x.Reply, _ = suite.RenderLiteral(e.Reply.Value, data)
		}
		res = x.Check(expect.RedisOutput{Reply: o.reply, Err: o.serverErr})
	case suite.StepHTTP:
		x := expect.HTTP{BodyMatches: pattern(e.BodyMatches), JSON: jsonChecks(e.JSON, data), BodyContains: renderList(e.BodyContains, data)}
		if e.Status.IsSet() {
			x.Status = &e.Status.Value
		}
		x.Body = renderOpt(e.Body, data)
		if len(e.Headers) > 0 {
			x.Headers, _ = suite.RenderMap(e.Headers, data)
		}
		res, err = x.Check(expect.HTTPOutput{Status: o.status, Header: o.header, Body: o.body})
	}
	if e.MaxDuration.IsSet() {
		res = expect.Join(res, expect.Duration(o.elapsed, e.MaxDuration.Value))
	}
	var out []*report.Failure
	if err != nil {
		// Patterns and paths were validated when the suite loaded; this is
		// a defect, reported rather than hidden.
		out = append(out, &report.Failure{Check: "expect", Expected: "valid expectations", Got: err.Error(), Pos: e.Pos.String()})
	}
	for _, f := range res.Failures {
		out = append(out, &report.Failure{Check: f.Check, Expected: f.Expected, Got: f.Got, Diff: f.Diff, Pos: e.Pos.String()})
	}
	return out
}

func pattern(f suite.Field[*regexp.Regexp]) string {
	if f.Value == nil {
		return ""
	}
	return f.Value.String()
}

func renderOpt(t suite.Template, data map[string]any) *string {
	if !t.IsSet() {
		return nil
	}
	s, err := t.Render(data)
	if err != nil {
		s = t.Text
	}
	return &s
}

func renderList(ts []suite.Template, data map[string]any) []string {
	if len(ts) == 0 {
		return nil
	}
	out, err := suite.RenderAll(ts, data)
	if err != nil {
		out = make([]string, len(ts))
		for i, t := range ts {
			out[i] = t.Text
		}
	}
	return out
}

func jsonChecks(checks []suite.JSONCheck, data map[string]any) map[string]any {
	if len(checks) == 0 {
		return nil
	}
	out := make(map[string]any, len(checks))
	for _, c := range checks {
		v, err := suite.RenderLiteral(c.Want, data)
		if err != nil {
			v = c.Want
		}
		out[c.Path.Text] = v
	}
	return out
}

func toAny(rows [][]any) any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r
	}
	return out
}

func fromAny(v any) [][]any {
	list, _ := v.([]any)
	out := make([][]any, len(list))
	for i, r := range list {
		switch row := r.(type) {
		case []any:
			out[i] = row
		default:
			out[i] = []any{row}
		}
	}
	return out
}

package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

// runScenario restores clean state, then runs the steps in order. A failed
// step ends the scenario unless it says continue_on_failure; the steps
// after it are reported skipped.
func (sr *suiteRun) runScenario(ctx context.Context, sc *suite.Scenario, rep *report.Scenario) {
	rep.Started = time.Now()
	rep.Status = report.Passed
	sr.obs.ScenarioStarted(sr.rep, rep)
	defer func() {
		rep.DurationMS = ms(time.Since(rep.Started))
		sr.obs.ScenarioFinished(sr.rep, rep)
	}()

	if err := sr.reset(ctx); err != nil {
		rep.Status = report.Errored
		rep.Error = err.Error()
		return
	}
	rep.ResetMS = ms(time.Since(rep.Started))

	cl := newClients()
	defer cl.close(context.WithoutCancel(ctx))
	captured := map[string]any{}
	stopped := false
	for _, st := range sc.Steps {
		srep := &report.Step{Name: st.Name.Value, Kind: string(st.Kind), Service: stepService(st), Status: report.Skipped, Pos: st.Pos.String()}
		rep.Steps = append(rep.Steps, srep)
		if stopped || ctx.Err() != nil {
			continue
		}
		sr.runStep(ctx, st, srep, captured, cl)
		sr.obs.StepFinished(sr.rep, rep, srep)
		if srep.Status != report.Passed {
			rep.Status = report.Failed
			if !st.ContinueOnFailure.Value {
				stopped = true
			}
		}
	}
	if ctx.Err() != nil && rep.Status == report.Passed {
		rep.Status = report.Errored
		rep.Error = interruption(ctx)
	}
}

func stepService(st *suite.Step) string {
	if st.HTTP != nil && st.HTTP.Service.Value != "" {
		return st.HTTP.Service.Value
	}
	return st.Service.Value
}

// runStep runs a step with its retries: an attempt passes when the action
// completed and every expectation held. Captures are taken from the
// passing attempt.
func (sr *suiteRun) runStep(ctx context.Context, st *suite.Step, rep *report.Step, captured map[string]any, cl *clients) {
	rep.Started = time.Now()
	defer func() { rep.DurationMS = ms(time.Since(rep.Started)) }()
	delay := st.RetryDelay.Value
	if !st.RetryDelay.IsSet() {
		delay = suite.DefaultRetryDelay
	}
	for attempt := 0; attempt <= st.Retries.Value; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
		}
		rep.Attempts = attempt + 1
		data := sr.templateData(captured)
		out := sr.perform(ctx, st, data, cl)
		rep.Output = out.report()
		rep.Error, rep.Failures = "", nil
		if out.err != nil {
			rep.Status = report.Failed
			rep.Error = out.err.Error()
			continue
		}
		rep.Failures = check(st, out, data)
		if len(rep.Failures) > 0 {
			rep.Status = report.Failed
			continue
		}
		values, err := captureAll(st, out)
		if err != nil {
			rep.Status = report.Failed
			rep.Error = err.Error()
			continue
		}
		maps.Copy(captured, values)
		if len(values) > 0 {
			rep.Captured = map[string]string{}
			for k, v := range values {
				rep.Captured[k] = fmt.Sprint(v)
			}
		}
		rep.Status = report.Passed
		return
	}
}

// report renders an outcome for the report.
func (o outcome) report() *report.Output {
	out := &report.Output{}
	switch {
	case o.exec != nil:
		code := o.exec.ExitCode
		out.ExitCode = &code
		out.Stdout, out.Stderr = string(o.exec.Stdout), string(o.exec.Stderr)
	case o.header != nil:
		out.Status = o.status
		out.Body = string(o.body)
		out.Headers = map[string]string{}
		for k, v := range o.header {
			out.Headers[k] = strings.Join(v, ", ")
		}
	case o.columns != nil:
		out.Rows = o.rows
		n := o.rowsAffected
		out.RowsAffected = &n
	case o.reply != nil:
		out.Reply = o.reply
	default:
		return nil
	}
	return out
}

// captureAll evaluates a step's captures against its outcome.
func captureAll(st *suite.Step, o outcome) (map[string]any, error) {
	if len(st.Capture) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, c := range st.Capture {
		v, err := captureOne(c, o)
		if err != nil {
			return nil, fmt.Errorf("%s: capture %s = %q: %w", c.Pos, c.Name, c.Expr, err)
		}
		out[c.Name] = v
	}
	return out, nil
}

func captureOne(c *suite.Capture, o outcome) (any, error) {
	switch c.Source {
	case suite.CaptureStdout:
		return strings.TrimRight(string(o.exec.Stdout), "\n"), nil
	case suite.CaptureStderr:
		return strings.TrimRight(string(o.exec.Stderr), "\n"), nil
	case suite.CaptureExitCode:
		return o.exec.ExitCode, nil
	case suite.CaptureStdoutJSON:
		return jsonLookup(o.exec.Stdout, c.Path)
	case suite.CaptureBody:
		return string(o.body), nil
	case suite.CaptureJSON:
		return jsonLookup(o.body, c.Path)
	case suite.CaptureStatus:
		return o.status, nil
	case suite.CaptureHeader:
		v := o.header.Get(c.Header)
		if v == "" {
			return nil, fmt.Errorf("no %s header in the response", c.Header)
		}
		return v, nil
	case suite.CaptureReply:
		if len(c.Path.Elems) == 0 {
			return o.reply, nil
		}
		return c.Path.Lookup(o.reply)
	case suite.CaptureRowCount:
		return len(o.rows), nil
	case suite.CaptureRowsAffected:
		return o.rowsAffected, nil
	case suite.CaptureRows:
		return rowCell(c, o)
	}
	return nil, fmt.Errorf("unknown capture source %q", c.Source)
}

func rowCell(c *suite.Capture, o outcome) (any, error) {
	r, col := c.Path.Elems[0], c.Path.Elems[1]
	row := r.Index
	if row < 0 {
		row += len(o.rows)
	}
	if row < 0 || row >= len(o.rows) {
		return nil, fmt.Errorf("the query returned %d row(s), no row %d", len(o.rows), r.Index)
	}
	idx := col.Index
	if !col.IsIndex {
		idx = -1
		for i, name := range o.columns {
			if name == col.Key {
				idx = i
			}
		}
		if idx < 0 {
			return nil, fmt.Errorf("no column %q (columns: %s)", col.Key, strings.Join(o.columns, ", "))
		}
	} else if idx < 0 {
		idx += len(o.rows[row])
	}
	if idx < 0 || idx >= len(o.rows[row]) {
		return nil, fmt.Errorf("row %d has %d column(s), no column %d", row, len(o.rows[row]), col.Index)
	}
	return o.rows[row][idx], nil
}

func jsonLookup(b []byte, path suite.JSONPath) (any, error) {
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("output is not JSON: %w", err)
	}
	return path.Lookup(doc)
}

package runner

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

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
	ctx, span := sr.opts.tracer().Start(ctx, "scenario "+sc.Name.Value)
	defer func() {
		rep.DurationMS = ms(time.Since(rep.Started))
		span.SetAttributes(attribute.Int64("cleanroom.seed", rep.Seed))
		endWithStatus(span, rep.Status, sr.shared.secrets.String(firstLine(rep.Error)))
		if !sr.holdFinish {
			sr.obs.ScenarioFinished(sr.rep, rep)
		}
	}()

	if err := sr.reset(ctx); err != nil {
		rep.Status = report.Errored
		rep.Error = err.Error()
		if ctx.Err() != nil {
			rep.Error = interruption(ctx)
		}
		return
	}
	rep.ResetMS = ms(time.Since(rep.Started))

	cl := newClients(sr.env.DialContext)
	defer cl.close(context.WithoutCancel(ctx))
	captured := map[string]any{}
	rep.Seed = deriveSeed(sr.seed, sc.Name.Value)
	seeds := stepSeeds(rep.Seed, sc.Steps)
	stopped, interrupted := false, false
	for _, st := range sc.Steps {
		srep := &report.Step{Name: st.Name.Value, Kind: string(st.Kind), Service: stepService(st), Status: report.Skipped, Pos: st.Pos.String(), Seed: seeds[st]}
		rep.Steps = append(rep.Steps, srep)
		if stopped {
			continue
		}
		if ctx.Err() != nil {
			interrupted = true
			continue
		}
		if ss, ok := sr.obs.(StepStarter); ok {
			ss.StepStarted(sr.rep, rep, srep)
		}
		sctx, span := stepSpanStart(ctx, sr.opts.tracer(), st, srep)
		sr.runStep(sctx, st, srep, captured, cl)
		sr.saveStepOutput(rep, len(rep.Steps)-1, srep)
		if srep.Status != report.Passed && ctx.Err() != nil {
			// The step did not fail: the run was interrupted, or the suite's
			// time ran out, while it ran. The backend's error would blame
			// the step ("timed out", "context canceled").
			srep.Status = report.Errored
			srep.Error = interruption(ctx)
			srep.Failures = nil
			interrupted, stopped = true, true
		}
		endStep(span, srep, sr.shared.secrets.String)
		sr.obs.StepFinished(sr.rep, rep, srep)
		if srep.Status == report.Failed {
			rep.Status = report.Failed
			if !st.ContinueOnFailure.Value {
				stopped = true
			}
		}
	}
	// A scenario that did not run to its end is an error, unless a step
	// had already failed.
	if interrupted && rep.Status != report.Failed {
		rep.Status = report.Errored
		rep.Error = interruption(ctx)
	}
	sr.collectArtifacts(ctx, sc, rep)
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
	if st.Kind == suite.StepExec && st.Service.Value == "" {
		pol := sr.oneShotPolicy(st)
		rep.Policy = &pol
	}
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
		data := sr.templateData(captured, rep.Seed)
		stop := sr.sample(ctx, st)
		began := time.Now()
		out := sr.perform(ctx, st, data, cl)
		rep.Error, rep.Failures, rep.Notes = "", nil, nil
		sr.judgeResources(st, rep, &out, stop())
		rep.Output = out.report()
		if out.err != nil {
			rep.Status = report.Failed
			rep.Error = out.err.Error()
			sr.explainFailure(ctx, st, rep, out)
			continue
		}
		rep.Failures = append(check(st, out, data), sr.checkSpans(ctx, st, began, data)...)
		if len(rep.Failures) > 0 {
			rep.Status = report.Failed
			sr.explainFailure(ctx, st, rep, out)
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
		if st.Snapshot.IsSet() {
			sr.checkSnapshot(st, rep)
		}
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
		if len(c.Path.Elems()) == 0 {
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
	elems := c.Path.Elems()
	r, col := elems[0], elems[1]
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
	return cellValue(o.rows[row][idx]), nil
}

// cellValue is a captured SQL cell as templates see it. Numbers, strings,
// booleans and decoded JSON stay as they are; the pgx types that Go's
// templates would print as a struct or a byte list become their SQL text:
// pgtype.Numeric a json.Number ("12.50"), a uuid its canonical form, a
// timestamp RFC 3339, other pgtype values their driver value.
func cellValue(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint, float32, float64, map[string]any, []any:
		return v
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:])
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return x
	case fmt.Stringer:
		return v
	case json.Marshaler:
		if b, err := x.MarshalJSON(); err == nil && len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
			return json.Number(b)
		}
	}
	if dv, ok := v.(driver.Valuer); ok {
		if val, err := dv.Value(); err == nil {
			if _, same := val.(driver.Valuer); !same {
				return cellValue(val)
			}
		}
	}
	return v
}

func jsonLookup(b []byte, path suite.JSONPath) (any, error) {
	// Numbers stay json.Number, so that a captured 1234567 renders as
	// such in templates rather than as float64's 1.234567e+06.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("output is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("output is not JSON: more after the first value")
	}
	return path.Lookup(doc)
}

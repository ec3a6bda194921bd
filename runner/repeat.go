package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/snapshot"
	"github.com/cleanroomhq/cleanroom/suite"
)

// normalizer is the suite's: the built-in placeholders (times, UUIDs,
// durations, container IDs), the session ID and the containers' addresses
// and published ports, then the suite's own normalize rules. What it
// leaves is what a deterministic step prints the same on every run.
func (sr *suiteRun) normalizer() *snapshot.Normalizer {
	if sr.norm != nil {
		return sr.norm
	}
	rules := make([]snapshot.Rule, len(sr.suite.Normalize))
	for i, r := range sr.suite.Normalize {
		rules[i] = snapshot.Rule{Match: r.Match, Replace: r.Replace}
	}
	opts := []snapshot.Option{snapshot.WithRules(rules...)}
	if sr.env != nil {
		opts = append(opts, snapshot.WithLiteral(sr.env.ID(), "<SESSION>"))
	}
	for _, r := range sr.services {
		opts = append(opts, snapshot.WithLiteral(r.inst.Container.ID(), "<CONTAINER>"))
		if r.inst.Host != "" && r.inst.Port != 0 {
			opts = append(opts, snapshot.WithLiteral(r.inst.Host+":"+strconv.Itoa(r.inst.Port), "<HOST>:<PORT>"))
		}
	}
	sr.norm = snapshot.NewNormalizer(opts...)
	return sr.norm
}

// fingerprint is a step's observable result, normalized: what --repeat
// compares and the report's digest covers. Everything the step showed
// counts, not only what its expectations looked at: its status, error,
// exit code and both streams, rows, reply, status line and body.
func (sr *suiteRun) fingerprint(st *report.Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s\n", st.Status)
	if st.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", st.Error)
	}
	if o := st.Output; o != nil {
		if o.ExitCode != nil {
			fmt.Fprintf(&b, "exit_code: %d\n", *o.ExitCode)
		}
		if o.Stdout != "" {
			fmt.Fprintf(&b, "stdout:\n%s\n", o.Stdout)
		}
		if o.Stderr != "" {
			fmt.Fprintf(&b, "stderr:\n%s\n", o.Stderr)
		}
		if o.Rows != nil {
			fmt.Fprintf(&b, "rows:\n%s\n", snapshot.Canonical(plainRows(o.Rows)))
		}
		if o.RowsAffected != nil {
			fmt.Fprintf(&b, "rows_affected: %d\n", *o.RowsAffected)
		}
		if o.Reply != nil {
			fmt.Fprintf(&b, "reply:\n%s\n", snapshot.Canonical(report.JSONValue(o.Reply)))
		}
		if o.Status != 0 {
			fmt.Fprintf(&b, "http_status: %d\n", o.Status)
		}
		if o.Body != "" {
			fmt.Fprintf(&b, "body:\n%s\n", body(o.Body))
		}
	}
	// Redacted like everything recorded (the first run's output has been
	// redacted in place by the time later runs are compared with it), and
	// before normalized: a normalizer that rewrote part of a secret would
	// hide it from the redactor.
	return sr.normalizer().String(sr.shared.secrets.String(b.String()))
}

// plainRows gives SQL cells the form templates and captures see (a uuid
// as its text, a timestamp as RFC 3339), so that normalizers can find them.
func plainRows(rows [][]any) any {
	out := make([]any, len(rows))
	for i, row := range rows {
		cells := make([]any, len(row))
		for j, c := range row {
			cells[j] = report.JSONValue(cellValue(c))
		}
		out[i] = cells
	}
	return out
}

// body is an HTTP body as stored: JSON with sorted keys, anything else as
// it came.
func body(s string) string {
	if c, ok := snapshot.CanonicalJSON([]byte(s)); ok {
		return c
	}
	return s
}

func digest(fingerprint string) string {
	sum := sha256.Sum256([]byte(fingerprint))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// runRepeated runs a scenario Options.Repeat times, each from clean state,
// and compares every step's fingerprint with the first run's. The first
// run is the one reported; a step whose result differs in any later run is
// marked nondeterministic with the differing runs and a diff, and fails
// unless Options.AllowFlaky.
func (sr *suiteRun) runRepeated(ctx context.Context, sc *suite.Scenario, rep *report.Scenario) {
	sr.holdFinish = true
	defer func() {
		sr.holdFinish = false
		sr.obs.ScenarioFinished(sr.rep, rep)
	}()
	sr.runScenario(ctx, sc, rep)
	first := make([]string, len(rep.Steps))
	for i, st := range rep.Steps {
		first[i] = sr.fingerprint(st)
		st.Digest = digest(first[i])
	}
	// Later runs are compared, not shown: the console and the report
	// show the first.
	obs := sr.obs
	sr.obs = logOnly{obs}
	sr.repeating = true
	defer func() { sr.obs, sr.repeating = obs, false }()
	for run := 2; run <= sr.opts.Repeat && ctx.Err() == nil; run++ {
		again := &report.Scenario{Name: rep.Name}
		sr.runScenario(ctx, sc, again)
		if again.Status == report.Errored {
			// Not the steps' doing: the environment failed. What earlier
			// runs showed is still reported below.
			rep.Status, rep.Error = report.Errored, fmt.Sprintf("run %d of %d: %s", run, sr.opts.Repeat, again.Error)
			break
		}
		for i, st := range again.Steps {
			if i >= len(rep.Steps) {
				break
			}
			fp := sr.fingerprint(st)
			if fp == first[i] {
				continue
			}
			orig := rep.Steps[i]
			if orig.Flaky == nil {
				orig.Flaky = &report.Flaky{Runs: sr.opts.Repeat, Diff: runDiff(first[i], fp, run)}
			}
			orig.Flaky.Differing = append(orig.Flaky.Differing, run)
		}
	}
	for i, st := range rep.Steps {
		if st.Flaky == nil {
			continue
		}
		sr.undoSnapshot(sc.Steps[i], st)
		st.Notes = append(st.Notes, fmt.Sprintf("nondeterministic: its result differs in run(s) %s of %d", joinInts(st.Flaky.Differing), st.Flaky.Runs))
		if sr.opts.AllowFlaky {
			continue
		}
		st.Status = report.Failed
		st.Failures = append(st.Failures, &report.Failure{
			Check:    "deterministic",
			Expected: fmt.Sprintf("the same result in all %d runs", st.Flaky.Runs),
			Got:      fmt.Sprintf("a different result in run(s) %s", joinInts(st.Flaky.Differing)),
			Diff:     st.Flaky.Diff,
		})
		if rep.Status != report.Errored {
			rep.Status = report.Failed
		}
	}
}

// runDiff is the unified diff of run 1's fingerprint against run n's.
func runDiff(first, again string, n int) string {
	return snapshot.DiffLabeled(first, again, "run 1", fmt.Sprintf("run %d", n))
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// logOnly passes log lines on and drops progress events.
type logOnly struct{ Observer }

func (logOnly) SuiteStarted(*report.Suite)                                 {}
func (logOnly) ServiceReady(*report.Suite, *report.Service)                {}
func (logOnly) ScenarioStarted(*report.Suite, *report.Scenario)            {}
func (logOnly) StepFinished(*report.Suite, *report.Scenario, *report.Step) {}
func (logOnly) ScenarioFinished(*report.Suite, *report.Scenario)           {}
func (logOnly) SuiteFinished(*report.Suite)                                {}

// Package runner executes loaded suites: one environment per suite file,
// services started once, clean state restored before every scenario, steps
// run and checked, results collected into a report.Run.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"runtime/debug"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/artifact"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/snapshot"
	"github.com/cleanroomhq/cleanroom/suite"
	"github.com/cleanroomhq/cleanroom/telemetry"
)

// Options tune a run.
type Options struct {
	// Jobs is how many suite files run at once, each in its own
	// environment (default 1).
	Jobs int
	// Filter selects scenarios by name ("suite/scenario" or the scenario
	// name alone); nil runs all.
	Filter *regexp.Regexp
	// FailFast stops the run at the first failed scenario; what did not
	// run is reported skipped.
	FailFast bool
	// Seed overrides every suite's seed when set.
	Seed *int64
	// Env adds options to every environment (backend, image map, ...).
	Env []cleanroom.Option
	// Observer is told about progress; nil means silence.
	Observer Observer
	// Version is cleanroom's version for the report.
	Version string
	// Policy is the project's [policy] (cleanroom.toml): the layer under
	// every suite's policy, and compliance rules for all. nil: none. A
	// suite whose policies do not pass CheckPolicies does not run: it is
	// reported errored with every problem.
	Policy *suite.Policy
	// Audit, when set, receives one JSON line per container started: its
	// suite, session, name, image and effective policy.
	Audit io.Writer
	// Repeat runs every scenario this many times, each from clean state,
	// and fails a step whose normalized result differs between runs
	// (default 1: once). AllowFlaky reports such steps without failing.
	Repeat     int
	AllowFlaky bool
	// Snapshots says whether snapshot checks write what they saw (update)
	// and whether a missing snapshot fails (CI).
	Snapshots snapshot.Mode
	// Artifacts, when set, is the run's output folder: each step's output,
	// service logs and the files services name in artifacts go there.
	Artifacts *artifact.Dir
	// Tracer records the run as a trace (see trace.go); nil records
	// nothing.
	Tracer trace.Tracer
}

// Observer receives progress as it happens. Calls for one suite come from
// one goroutine; with Jobs > 1 several suites report concurrently.
type Observer interface {
	SuiteStarted(s *report.Suite)
	ServiceReady(s *report.Suite, svc *report.Service)
	ScenarioStarted(s *report.Suite, sc *report.Scenario)
	StepFinished(s *report.Suite, sc *report.Scenario, st *report.Step)
	ScenarioFinished(s *report.Suite, sc *report.Scenario)
	SuiteFinished(s *report.Suite)
	Log(format string, args ...any)
}

// StepStarter is an optional extension of Observer: an observer that has
// it is also told when a step begins (a console's status line).
type StepStarter interface {
	StepStarted(s *report.Suite, sc *report.Scenario, st *report.Step)
}

// Run runs suites and returns the report: failed tests, and suites that
// could not run (their services did not start: report.Errored with the
// reason), are in it. Run returns once every environment it created is
// removed, also when ctx is cancelled.
func Run(ctx context.Context, suites []*suite.Suite, opts Options) *report.Run {
	if opts.Observer == nil {
		opts.Observer = quiet{}
	}
	jobs := max(opts.Jobs, 1)
	run := &report.Run{Schema: report.SchemaVersion, Cleanroom: opts.Version, Started: time.Now()}
	run.Suites = make([]*report.Suite, len(suites))
	for i, s := range suites {
		run.Suites[i] = newSuiteReport(s, opts)
	}
	conflicts := snapshotConflicts(suites)
	sec, err := newSecrets(suites, opts.Policy)
	if err != nil {
		for _, rep := range run.Suites {
			rep.Status, rep.Error = report.Errored, err.Error()
		}
		run.Finished = time.Now()
		run.Tally()
		return run
	}
	opts.Observer = redactingObserver{next: opts.Observer, s: sec}
	ctx, runSpan := opts.tracer().Start(ctx, "cleanroom run", trace.WithAttributes(
		attribute.String("cleanroom.version", opts.Version), attribute.Int("cleanroom.suites", len(suites))))
	defer func() { endWithStatus(runSpan, run.Status, sec.String(firstSetupReason(run))) }()
	shared := &runState{rep: run, audit: &auditLog{w: opts.Audit, secrets: sec}, secrets: sec}
	// Whatever is recorded below, and whatever the observer is shown, is
	// redacted before it leaves: the final walk catches what was recorded
	// after the observer saw it.
	defer sec.walk(run)
	failed := make(chan struct{})
	var failOnce sync.Once
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	// Files start in the order given, as slots free up. Once the run is
	// interrupted or (with FailFast) a scenario failed, no further file
	// starts: those stay skipped.
start:
	for i, s := range suites {
		if msg, ok := conflicts[i]; ok {
			run.Suites[i].Status, run.Suites[i].Error = report.Errored, msg
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break start
		}
		select {
		case <-failed:
			break start
		case <-ctx.Done():
			break start
		default:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			// A bug in cleanroom must not take the other suites down, nor
			// leave a stack trace as the only report: the suite's own
			// deferred cleanup has run by the time this recovers.
			defer func() {
				if r := recover(); r != nil {
					rep := run.Suites[i]
					rep.Status = report.Errored
					rep.Error = fmt.Sprintf("internal error, a bug in cleanroom (please report it): %v\n%s", r, debug.Stack())
				}
			}()
			sr := &suiteRun{suite: s, opts: opts, rep: run.Suites[i], obs: opts.Observer, failed: failed, shared: shared}
			sr.run(ctx)
			if opts.FailFast && sr.rep.Status != report.Passed && sr.rep.Status != report.Skipped {
				failOnce.Do(func() { close(failed) })
			}
		})
	}
	wg.Wait()
	run.Finished = time.Now()
	run.DurationMS = ms(run.Finished.Sub(run.Started))
	run.Tally()
	return run
}

func newSuiteReport(s *suite.Suite, opts Options) *report.Suite {
	seed := s.Seed.Value
	switch {
	case opts.Seed != nil:
		seed = *opts.Seed
	case !s.Seed.IsSet():
		seed = rand.Int64N(1 << 31)
	}
	rep := &report.Suite{Name: s.Name.Value, File: s.File, Seed: seed, Status: report.Skipped}
	for _, sc := range s.Scenarios {
		rep.Scenarios = append(rep.Scenarios, &report.Scenario{Name: sc.Name.Value, Status: report.Skipped})
	}
	return rep
}

// runState is what the suites of one run share.
type runState struct {
	rep        *report.Run
	audit      *auditLog
	secrets    *secrets
	engineOnce sync.Once // the first environment fills Backend and EngineVersion
}

// suiteRun is the state of one suite file's run.
type suiteRun struct {
	shared *runState
	suite  *suite.Suite
	opts   Options
	rep    *report.Suite
	obs    Observer
	failed <-chan struct{}

	seed     int64
	env      *cleanroom.Env
	services map[string]*running
	pol      *policies
	norm     *snapshot.Normalizer // see normalizer; nil until first needed
	// holdFinish: runScenario leaves ScenarioFinished to its caller, which
	// has more runs of the scenario to compare (--repeat).
	holdFinish bool
	repeating  bool // running scenarios 2… of --repeat
	// snaps is the suite's snapshot file, opened at the first snapshot
	// step (snapErr if it did not load).
	snaps   *snapshot.File
	snapErr error
	// snapPrev holds, per snapshot a step created or updated in this
	// run, what was there before (nil: nothing), so --repeat can take
	// back the write of a nondeterministic step.
	snapPrev map[string]*string
	// recv is the environment's OTLP receiver (see spans.go); recvErr
	// says why there is none.
	recv    *telemetry.Receiver
	recvErr error
}

func (sr *suiteRun) run(ctx context.Context) {
	sr.seed = sr.rep.Seed
	sr.pol = resolvePolicies(sr.suite, sr.opts.Policy)
	sr.rep.Started = time.Now()
	sr.obs.SuiteStarted(sr.rep)
	ctx, span := sr.opts.tracer().Start(ctx, "suite "+sr.suite.Name.Value, trace.WithAttributes(
		attribute.String("cleanroom.suite.file", sr.suite.File), attribute.Int64("cleanroom.seed", sr.seed)))
	defer func() {
		sr.rep.DurationMS = ms(time.Since(sr.rep.Started))
		span.SetAttributes(attribute.String("cleanroom.session", sr.rep.Session))
		endWithStatus(span, sr.rep.Status, sr.shared.secrets.String(firstLine(sr.rep.Error)))
		sr.obs.SuiteFinished(sr.rep)
	}()
	timeout := sr.suite.Timeout.Value
	if !sr.suite.Timeout.IsSet() {
		timeout = sr.pol.suite.SuiteTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, ErrSuiteTimeout)
		defer cancel()
	}
	if !sr.anySelected() {
		return
	}
	// The command line checks before anything starts; a Go caller of Run
	// gets the same checks here, suite by suite.
	if list := checkSuitePolicies(sr.suite, sr.opts.Policy); len(list) > 0 {
		sr.setupFailed(list)
		return
	}

	// Steps reach services from inside the environment's network:
	// nothing is published on this machine for them.
	opts := append([]cleanroom.Option{cleanroom.WithImageMap(sr.suite.ImageMap()), cleanroom.WithLogf(sr.obs.Log), cleanroom.WithPrivateEndpoints()}, sr.opts.Env...)
	env, err := cleanroom.New(ctx, opts...)
	if err != nil {
		sr.setupFailed(err)
		return
	}
	sr.env = env
	sr.rep.Session = env.ID()
	sr.engine(ctx)
	sr.services = map[string]*running{}
	// Cleanup must happen even when ctx was cancelled (Ctrl-C).
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		sr.collectCoverage(cctx)
		sr.saveServiceLogs(cctx)
		sr.closeServices(cctx)
		if err := env.Close(cctx); err != nil {
			sr.obs.Log("cleanup of session %s: %v", env.ID(), err)
		}
	}()
	sr.startReceiver(ctx)
	if sr.recv != nil {
		defer sr.recv.Close()
	}
	if err := sr.startServices(ctx); err != nil {
		sr.setupFailed(err)
		return
	}

	sr.rep.Status = report.Passed
	defer sr.saveSnapshots()
	for i, sc := range sr.suite.Scenarios {
		rep := sr.rep.Scenarios[i]
		if !sr.selected(sc) {
			continue
		}
		select {
		case <-sr.failed:
			continue // fail-fast: another scenario failed; this one stays skipped
		default:
		}
		if ctx.Err() != nil {
			break
		}
		sr.runRepeated(ctx, sc, rep)
		switch rep.Status {
		case report.Failed:
			sr.rep.Status = report.Failed
		case report.Errored:
			if sr.rep.Status == report.Passed {
				sr.rep.Status = report.Errored
			}
		}
		if sr.opts.FailFast && rep.Status != report.Passed {
			break
		}
	}
	if ctx.Err() != nil && sr.rep.Status == report.Passed {
		sr.rep.Status = report.Errored
		sr.rep.Error = interruption(ctx)
	}
}

// ErrSuiteTimeout is the cause of a suite's context when its timeout
// expires.
var ErrSuiteTimeout = errors.New("suite timeout expired")

// interruption says why ctx ended, for the report: "suite timeout
// expired", "timeout expired" for another deadline (the caller's),
// "interrupted" for a cancellation (Ctrl-C), or the cause the caller gave.
func interruption(ctx context.Context) string {
	cause := context.Cause(ctx)
	switch {
	case cause == nil:
		return ""
	case errors.Is(cause, ErrSuiteTimeout):
		return ErrSuiteTimeout.Error()
	case errors.Is(cause, context.Canceled):
		return "interrupted"
	case errors.Is(cause, context.DeadlineExceeded):
		return "timeout expired"
	}
	return "interrupted: " + cause.Error()
}

// engine records the backend and its version in the report, once per run.
func (sr *suiteRun) engine(ctx context.Context) {
	sr.shared.engineOnce.Do(func() {
		b := sr.env.Backend()
		sr.shared.rep.Backend = b.Name()
		if v, ok := b.(interface {
			Version(context.Context) (string, error)
		}); ok {
			if version, err := v.Version(ctx); err == nil {
				sr.shared.rep.EngineVersion = version
			}
		}
	})
}

func (sr *suiteRun) setupFailed(err error) {
	sr.rep.Status = report.Errored
	sr.rep.Error = err.Error()
	for _, sc := range sr.rep.Scenarios {
		sc.Status = report.Skipped
	}
}

func (sr *suiteRun) anySelected() bool {
	for _, sc := range sr.suite.Scenarios {
		if sr.selected(sc) {
			return true
		}
	}
	return false
}

func (sr *suiteRun) selected(sc *suite.Scenario) bool {
	f := sr.opts.Filter
	return f == nil || f.MatchString(sc.Name.Value) || f.MatchString(sr.suite.Name.Value+"/"+sc.Name.Value)
}

// templateData is what templates see: the suite's vars overlaid with
// captures, the running services, the seed of the scope (the suite's for
// services, the step's for steps) and the frozen clock.
func (sr *suiteRun) templateData(captured map[string]any, seed int64) map[string]any {
	vars := sr.suite.VarValues()
	for k, v := range captured {
		vars[k] = v
	}
	eps := make(map[string]suite.Endpoints, len(sr.services))
	for name, r := range sr.services {
		eps[name] = suite.Endpoints{Host: r.inst.Host, Port: r.inst.Port, URL: r.inst.URL, Address: r.inst.Address, InternalURL: r.inst.InternalURL}
	}
	return suite.WithClock(suite.TemplateData(vars, eps, seed), sr.suite.FreezeTime.Value)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type quiet struct{}

func (quiet) SuiteStarted(*report.Suite)                                 {}
func (quiet) ServiceReady(*report.Suite, *report.Service)                {}
func (quiet) ScenarioStarted(*report.Suite, *report.Scenario)            {}
func (quiet) StepFinished(*report.Suite, *report.Scenario, *report.Step) {}
func (quiet) ScenarioFinished(*report.Suite, *report.Scenario)           {}
func (quiet) SuiteFinished(*report.Suite)                                {}
func (quiet) Log(string, ...any)                                         {}

var _ = fmt.Sprint

// firstSetupReason is the first suite error of a run, for its span.
func firstSetupReason(run *report.Run) string {
	for _, s := range run.Suites {
		if s.Error != "" {
			return firstLine(s.Error)
		}
	}
	return ""
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/artifact"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/snapshot"
	"github.com/cleanroomhq/cleanroom/telemetry"
)

// Exit codes of `cleanroom run`.
const (
	exitPassed  = 0
	exitFailed  = 1 // a test failed
	exitInvalid = 2 // bad usage or an invalid suite
	exitInfra   = 3 // the engine, an image or a service failed, not a test
)

// exitError carries an exit code chosen by a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

type runFlags struct {
	jobs        int
	filter      string
	failFast    bool
	timeout     time.Duration
	reportJSON  string
	reportJUnit string
	reportCTRF  string
	reportHTML  string
	verbose     bool
	seed        int64
	seedSet     bool
	out         string
	repeat      int
	allowFlaky  bool
	update      bool
	otelEnd     string
	traceFile   string
	attest      attestFlags
	backend     string
}

func newRun() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [paths...]",
		Short: "Run suites: start their services, run every scenario, check every result",
		Long: `run loads the suites at the given paths (files, or directories searched
recursively for *.cleanroom.toml; default "."), validates all of them before
anything starts, and runs each file in its own isolated environment.

Exit codes: 0 all passed, 1 a test failed, 2 bad usage or an invalid suite,
3 an infrastructure error (engine unreachable, image missing, a service that
never became ready).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.seedSet = cmd.Flags().Changed("seed")
			return runSuites(cmd, args, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.jobs, "jobs", "j", 1, "run this many suite files at once, each in its own environment")
	fl.StringVar(&f.filter, "run", "", "run only scenarios whose name (or suite/scenario) matches this regular expression")
	fl.BoolVar(&f.failFast, "fail-fast", false, "stop at the first failed scenario")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop the whole run after this long (0: no limit)")
	fl.StringVar(&f.reportJSON, "report-json", "", "write the JSON report to this file")
	fl.StringVar(&f.reportJUnit, "report-junit", "", "write a JUnit XML report to this file")
	fl.StringVar(&f.reportCTRF, "report-ctrf", "", "write a CTRF JSON report (ctrf.io) to this file")
	fl.StringVar(&f.reportHTML, "report-html", "", "write a self-contained HTML report to this file")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show service start-up and every step's output")
	fl.Int64Var(&f.seed, "seed", 0, "seed for every suite (replays a run; default: the suite's seed or a random one)")
	fl.IntVar(&f.repeat, "repeat", 1, "run every scenario this many times from clean state and fail steps whose normalized results differ")
	fl.BoolVar(&f.allowFlaky, "allow-flaky", false, "with --repeat: report nondeterministic steps without failing them")
	fl.BoolVar(&f.update, "update-snapshots", false, "write what snapshot steps saw as their new snapshots (also CLEANROOM_UPDATE_SNAPSHOTS=1)")
	fl.StringVar(&f.otelEnd, "otel-endpoint", "", "send the run's trace over OTLP/HTTP to this collector (e.g. http://127.0.0.1:4318; OTEL_EXPORTER_OTLP_* variables apply too)")
	fl.StringVar(&f.traceFile, "trace-file", "", "write the run's trace as OTLP JSON to this file (default: trace.jsonl in the output folder)")
	f.attest.add(cmd)
	addBackendFlag(cmd, &f.backend)
	fl.StringVar(&f.out, "out", "", "write the run's output folder here: reports, audit log, service logs, step outputs, artifacts (default .cleanroom/runs/<time>-<id>)")
	return cmd
}

func runSuites(cmd *cobra.Command, args []string, f runFlags) error {
	var filter *regexp.Regexp
	if f.filter != "" {
		re, err := regexp.Compile(f.filter)
		if err != nil {
			return usageError{fmt.Errorf("--run: %w", err)}
		}
		filter = re
	}
	if f.jobs < 1 {
		return usageError{fmt.Errorf("--jobs must be at least 1, got %d", f.jobs)}
	}
	if f.repeat < 1 {
		return usageError{fmt.Errorf("--repeat must be at least 1, got %d", f.repeat)}
	}
	if f.allowFlaky && f.repeat < 2 {
		return usageError{errors.New("--allow-flaky needs --repeat 2 or more")}
	}
	suites, err := loadSuites(cmd, args, "run")
	if err != nil {
		return err
	}
	if len(suites) == 0 {
		return &exitError{exitInvalid, fmt.Errorf("no *.cleanroom.toml files found in %v", args)}
	}

	project, problems, err := checkPolicies(suites)
	if err != nil {
		return &exitError{exitInvalid, err}
	}
	if len(problems) > 0 {
		return invalid(cmd, problems, plural(len(problems), "error")+": nothing was run")
	}
	ctx := cmd.Context()
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	b, suites, err := chooseBackend(ctx, cmd, f.backend, project, suites)
	if err != nil {
		return err
	}
	defer b.Close()
	out, err := newOutDir(f.out)
	if err != nil {
		return &exitError{exitInfra, err}
	}
	defer out.Close()
	traceFile := f.traceFile
	if traceFile == "" {
		traceFile = out.Path(traceName)
	}
	tp, err := telemetry.NewProvider(ctx, telemetry.Config{Endpoint: f.otelEnd, TraceFile: traceFile, Version: Version()})
	if err != nil {
		return usageError{fmt.Errorf("tracing: %w", err)}
	}
	con := newConsole(cmd.OutOrStdout(), f.verbose)
	opts := runner.Options{Jobs: f.jobs, Filter: filter, FailFast: f.failFast, Observer: con, Version: Version(),
		Policy: project.Policy, Env: []cleanroom.Option{cleanroom.WithBackend(b)}, Audit: out.audit, Artifacts: out.Dir, Tracer: tp.Tracer(),
		Repeat: f.repeat, AllowFlaky: f.allowFlaky, Snapshots: snapshot.ModeFromEnv(f.update)}
	if f.seedSet {
		opts.Seed = &f.seed
	}
	run := runner.Run(ctx, suites, opts)
	con.finish(run)
	// The trace is flushed even after Ctrl-C: it is what explains the run.
	sctx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancelFlush()
	if err := tp.Shutdown(sctx); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "cleanroom: trace: %v\n", err)
	}
	if f.traceFile == "" {
		_ = out.Add(traceName, artifact.Entry{Kind: "trace"})
	}
	if err := out.finish(run); err != nil {
		return &exitError{exitInfra, err}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "output: %s\n", out.Root())

	for _, out := range []struct{ path, format string }{{f.reportJSON, "json"}, {f.reportJUnit, "junit"}, {f.reportCTRF, "ctrf"}, {f.reportHTML, "html"}} {
		if out.path == "" {
			continue
		}
		if err := report.WriteFile(out.path, out.format, run); err != nil {
			return &exitError{exitInfra, fmt.Errorf("report: %w", err)}
		}
	}
	if err := f.attest.write(out, run); err != nil {
		return &exitError{exitInfra, err}
	}
	switch {
	case cmd.Context().Err() != nil:
		return &exitError{exitFailed, errors.New("interrupted; every container of the run was removed")}
	case run.Summary.Failed > 0:
		return &exitError{exitFailed, fmt.Errorf("%s failed", plural(run.Summary.Failed, "scenario"))}
	case run.Status == report.Errored:
		return &exitError{exitInfra, errors.New(firstSetupError(run))}
	}
	return nil
}

func firstSetupError(run *report.Run) string {
	for _, s := range run.Suites {
		if s.Error != "" {
			return fmt.Sprintf("suite %s could not run: %s", s.Name, firstLine(s.Error))
		}
		for _, sc := range s.Scenarios {
			if sc.Error != "" {
				return fmt.Sprintf("scenario %s/%s could not run: %s", s.Name, sc.Name, firstLine(sc.Error))
			}
		}
	}
	return "the run did not complete"
}

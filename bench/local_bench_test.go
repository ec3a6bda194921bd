package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
	"github.com/cleanroomhq/cleanroom/suite"
)

// The benchmarks of issue 8 compare the local backend (sandboxed processes
// of this machine) with the Docker backend on the same work, side by side
// in one benchmark, taking turns on which goes first: an exec in a running
// container, the same as a step of `cleanroom run`, and an environment of
// PostgreSQL and Redis started until ready and closed. Their results are in
// docs/benchmarks.md, section "Issue 8: the local backend". They need root
// (the local backend's namespaces and cgroups), a Docker engine with the
// fixture images of scripts/, and PostgreSQL and redis-server installed on
// this machine (the local backend runs those).

const (
	// localExecWarmup pairs of execs run before the timer starts: the first
	// execs in a new container are slower on both backends.
	localExecWarmup = 5
	// localRunSteps is the number of `echo hi` steps of the suite that
	// BenchmarkLocalRunStep runs on each backend per iteration; the first
	// execWarmup of each run are not recorded.
	localRunSteps = 20
)

// backendPair is one backend of each kind, shared by a benchmark's
// environments; both are closed when b ends.
type backendPair struct {
	local  *local.Backend
	docker *docker.Backend
}

// side is one of the two backends, as the metrics name it.
type side struct {
	name string // "local" or "docker"
	be   backend.Backend
}

// sides lists the two backends in the order of iteration i: they take turns
// on going first, so that neither always runs on a machine the other has
// just warmed (or loaded).
func (p backendPair) sides(i int) []side {
	l, d := side{"local", p.local}, side{"docker", p.docker}
	if i%2 == 1 {
		return []side{d, l}
	}
	return []side{l, d}
}

// newBackends connects to both backends, or skips b where the local one
// cannot run (not Linux, not root). The local backend keeps its sessions
// under a directory of its own, removed when b ends, so that the benchmark
// neither sees nor sweeps anyone else's sandboxes.
func newBackends(b *testing.B) backendPair {
	b.Helper()
	if testing.Short() {
		b.Skip("starts sandboxes, containers and PostgreSQL servers; not under -short")
	}
	requireHostOverride(b)
	if err := local.Available(); err != nil {
		b.Skipf("the local backend cannot run here: %v", err)
	}
	lb := newLocalBackend(b)
	db, err := docker.New(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return backendPair{local: lb, docker: db}
}

// newLocalBackend makes a local backend that keeps its sessions under a
// temporary directory of its own, removed when b ends.
func newLocalBackend(b *testing.B) *local.Backend {
	b.Helper()
	// Short: the control sockets live there, and a socket path has a limit
	// of 107 bytes.
	dir, err := os.MkdirTemp("", "crb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	lb, err := local.New(local.WithStateDir(dir))
	if err != nil {
		b.Fatal(err)
	}
	return lb
}

// newEnvOn creates an environment on be. Its images are never pulled: the
// Docker side runs the local fixtures (cleanroom.toml maps the official
// names to them), the local side runs this machine's programs.
func newEnvOn(ctx context.Context, b *testing.B, be backend.Backend) *cleanroom.Env {
	b.Helper()
	env, err := cleanroom.New(ctx, cleanroom.WithBackend(be), cleanroom.WithPullPolicy(backend.PullNever))
	if err != nil {
		b.Fatal(err)
	}
	// Removed even when the benchmark fails half-way; Close is idempotent.
	b.Cleanup(func() { _ = env.Close(context.Background()) })
	return env
}

// leftoversOn counts what is left of session id on either backend.
func leftoversOn(ctx context.Context, b *testing.B, p backendPair, s side, id string) int {
	b.Helper()
	if s.be == backend.Backend(p.local) {
		containers, networks := p.local.Resources(id)
		return len(containers) + len(networks)
	}
	return leftovers(ctx, b, id)
}

// boxSpec is the container the exec benchmarks run commands in. On Docker
// it is the busybox fixture (named directly, never pulled); on the local
// backend the image is not used and `sleep` is this machine's.
func boxSpec() service.Spec {
	return generic.Spec("box", fixtureBusybox, generic.WithCommand("sleep", "86400"))
}

// ---------------------------------------------------------------------------
// 13. An exec in a running container.

// BenchmarkLocalExec runs `echo hi` through Container.Exec in a running
// container of each backend, one exec on each per iteration, taking turns
// on which goes first. An op is that pair, so ns/op is suppressed:
// local-ms/exec and docker-ms/exec are per exec, x-faster is Docker's mean
// over local's (target ≥ 5, with local ≤ 10 ms), x-faster-p50 the same for
// medians.
func BenchmarkLocalExec(b *testing.B) {
	ctx := b.Context()
	p := newBackends(b)
	cs := map[string]backend.Container{}
	for _, s := range p.sides(0) {
		env := newEnvOn(ctx, b, s.be)
		insts, err := env.Start(ctx, boxSpec())
		if err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
		cs[s.name] = insts[0].Container
	}
	cmd := []string{"echo", "hi"}
	times := map[string]durations{}
	exec := func(s side, record bool) {
		t0 := time.Now()
		res, err := cs[s.name].Exec(ctx, backend.ExecSpec{Cmd: cmd})
		d := time.Since(t0)
		if err != nil || res.ExitCode != 0 || string(res.Stdout) != "hi\n" {
			b.Fatalf("%s exec: %v, exit %d, stdout %q", s.name, err, res.ExitCode, res.Stdout)
		}
		if record {
			times[s.name] = append(times[s.name], d)
		}
	}
	for i := range localExecWarmup {
		for _, s := range p.sides(i) {
			exec(s, false)
		}
	}
	i := 0
	for b.Loop() {
		i++
		for _, s := range p.sides(i) {
			exec(s, true)
		}
	}
	l, d := times["local"], times["docker"]
	b.ReportMetric(0, "ns/op") // an op is one exec on each backend; the metrics below are per exec
	b.ReportMetric(ms(l.mean()), "local-ms/exec")
	b.ReportMetric(ms(d.mean()), "docker-ms/exec")
	b.ReportMetric(ms(l.pct(50)), "local-p50-ms")
	b.ReportMetric(ms(d.pct(50)), "docker-p50-ms")
	b.ReportMetric(ms(l.pct(95)), "local-p95-ms")
	b.ReportMetric(ratio(d.mean(), l.mean()), "x-faster")
	b.ReportMetric(ratio(d.pct(50), l.pct(50)), "x-faster-p50")
}

// ---------------------------------------------------------------------------
// 14. An exec step of `cleanroom run`.

// BenchmarkLocalRunStep runs, per iteration and on each backend in turn, a
// suite of one busybox service (`sleep 86400`) and localRunSteps steps
// `exec = ["echo", "hi"]` expecting stdout "hi\n", through runner.Run: the
// whole of `cleanroom run` but loading the file. The same suite runs on
// both: the local backend runs a generic service's command from this
// machine and ignores its image.
//
// <side>-ms/step is the wall time from the end of one step to the end of
// the next, as the runner's observer sees it (render, exec, check, report
// and what lies between steps), the first execWarmup steps of a run left
// out; <side>-run-ms is the whole run (environment, service, steps,
// removal). x-faster compares the steps' means (target ≥ 5, with local
// ≤ 10 ms); x-faster-run the runs.
func BenchmarkLocalRunStep(b *testing.B) {
	ctx := b.Context()
	p := newBackends(b)
	var sb strings.Builder
	sb.WriteString(`name = "local-exec-steps"

[services.box]
type = "generic"
image = "busybox:latest"
command = ["sleep", "86400"]

[[scenario]]
name = "echo steps"
`)
	for i := range localRunSteps {
		fmt.Fprintf(&sb, "\n[[scenario.step]]\nname = \"echo %d\"\nservice = \"box\"\nexec = [\"echo\", \"hi\"]\nexpect = { stdout = \"hi\\n\" }\n", i)
	}
	path := writeSuite(b, "local-exec", sb.String())
	steps, runs := map[string]durations{}, map[string]durations{}
	i := 0
	for b.Loop() {
		i++
		for _, s := range p.sides(i) {
			st, err := suite.Load(path)
			if err != nil {
				b.Fatal(err)
			}
			obs := &stepTimer{}
			t0 := time.Now()
			run := runner.Run(ctx, []*suite.Suite{st}, runner.Options{Observer: obs,
				Env: []cleanroom.Option{cleanroom.WithBackend(s.be), cleanroom.WithPullPolicy(backend.PullNever)}})
			runs[s.name] = append(runs[s.name], time.Since(t0))
			if obs.err != nil {
				b.Fatalf("%s: %v", s.name, obs.err)
			}
			mustPassRun(b, run)
			if n := countSteps(run); n != localRunSteps {
				b.Fatalf("%s: %d steps passed, want %d", s.name, n, localRunSteps)
			}
			for _, su := range run.Suites {
				if n := leftoversOn(context.WithoutCancel(ctx), b, p, s, su.Session); n > 0 {
					b.Fatalf("%s: %d resource(s) of session %s left after the run", s.name, n, su.Session)
				}
			}
			steps[s.name] = append(steps[s.name], obs.steps...)
		}
	}
	l, d := steps["local"], steps["docker"]
	b.ReportMetric(0, "ns/op") // an op is a run of the suite on each backend; the metrics below are per step and per run
	b.ReportMetric(ms(l.mean()), "local-ms/step")
	b.ReportMetric(ms(d.mean()), "docker-ms/step")
	b.ReportMetric(ms(l.pct(50)), "local-p50-ms")
	b.ReportMetric(ms(d.pct(50)), "docker-p50-ms")
	b.ReportMetric(ms(runs["local"].mean()), "local-run-ms")
	b.ReportMetric(ms(runs["docker"].mean()), "docker-run-ms")
	b.ReportMetric(ratio(d.mean(), l.mean()), "x-faster")
	b.ReportMetric(ratio(d.pct(50), l.pct(50)), "x-faster-p50")
	b.ReportMetric(ratio(runs["docker"].mean(), runs["local"].mean()), "x-faster-run")
}

// stepTimer records the time from the end of one step (or the start of the
// scenario) to the end of the next. Its callbacks run on the suite's
// goroutine, so it keeps the first failure for the benchmark to report.
type stepTimer struct {
	last  time.Time
	n     int
	steps durations
	err   error
}

func (o *stepTimer) ScenarioStarted(*report.Suite, *report.Scenario) { o.last = time.Now() }

func (o *stepTimer) StepFinished(_ *report.Suite, _ *report.Scenario, st *report.Step) {
	now := time.Now()
	o.n++
	if st.Status != report.Passed && o.err == nil {
		o.err = fmt.Errorf("step %s: %s %s", st.Name, st.Status, st.Error)
	}
	if o.n > execWarmup {
		o.steps = append(o.steps, now.Sub(o.last))
	}
	o.last = now
}

func (o *stepTimer) SuiteStarted(*report.Suite)                       {}
func (o *stepTimer) ServiceReady(*report.Suite, *report.Service)      {}
func (o *stepTimer) ScenarioFinished(*report.Suite, *report.Scenario) {}
func (o *stepTimer) SuiteFinished(*report.Suite)                      {}
func (o *stepTimer) Log(string, ...any)                               {}

// ---------------------------------------------------------------------------
// 15. An environment of PostgreSQL and Redis.

// BenchmarkLocalEnv creates an environment on each backend in turn, starts
// PostgreSQL and Redis in it until both are ready (one Env.Start: SELECT 1
// and PING answered), and closes it, checking that nothing of it is left.
// On the local backend the services are this machine's PostgreSQL and
// redis-server; on Docker the fixture images. <side>-new-ms is
// cleanroom.New (the sweep of dead sessions and the session's network),
// <side>-start-ms the Start, of which <side>-postgres-ms and -redis-ms are
// each service's own time from its start request to ready (they start in
// parallel), <side>-close-ms the Close; x-faster-* are Docker's over
// local's.
func BenchmarkLocalEnv(b *testing.B) {
	ctx := b.Context()
	p := newBackends(b)
	specs := func() []service.Spec { return []service.Spec{postgres.Spec("db"), redis.Spec("cache")} }
	type times struct{ created, start, close, postgres, redis durations }
	t := map[string]*times{"local": {}, "docker": {}}
	i := 0
	for b.Loop() {
		i++
		for _, s := range p.sides(i) {
			ts := t[s.name]
			t0 := time.Now()
			env := newEnvOn(ctx, b, s.be)
			ts.created = append(ts.created, time.Since(t0))
			t0 = time.Now()
			insts, err := env.Start(ctx, specs()...)
			if err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
			ts.start = append(ts.start, time.Since(t0))
			ts.postgres = append(ts.postgres, insts[0].ReadyAfter)
			ts.redis = append(ts.redis, insts[1].ReadyAfter)
			t0 = time.Now()
			if err := env.Close(ctx); err != nil {
				b.Fatalf("%s: %v", s.name, err)
			}
			ts.close = append(ts.close, time.Since(t0))
			b.StopTimer()
			if n := leftoversOn(context.WithoutCancel(ctx), b, p, s, env.ID()); n > 0 {
				b.Fatalf("%s: %d resource(s) of session %s left after Close", s.name, n, env.ID())
			}
			b.StartTimer()
		}
	}
	l, d := t["local"], t["docker"]
	b.ReportMetric(0, "ns/op") // an op is an environment on each backend; the metrics below are per environment
	for _, s := range []struct {
		name string
		t    *times
	}{{"local", l}, {"docker", d}} {
		b.ReportMetric(ms(s.t.created.mean()), s.name+"-new-ms")
		b.ReportMetric(ms(s.t.start.mean()), s.name+"-start-ms")
		b.ReportMetric(ms(s.t.start.pct(100)), s.name+"-start-max-ms")
		b.ReportMetric(ms(s.t.postgres.mean()), s.name+"-postgres-ms")
		b.ReportMetric(ms(s.t.redis.mean()), s.name+"-redis-ms")
		b.ReportMetric(ms(s.t.close.mean()), s.name+"-close-ms")
	}
	b.ReportMetric(ratio(d.start.mean(), l.start.mean()), "x-faster-start")
	b.ReportMetric(ratio(d.close.mean(), l.close.mean()), "x-faster-close")
	total := func(t *times) time.Duration { return t.created.mean() + t.start.mean() + t.close.mean() }
	b.ReportMetric(ratio(total(d), total(l)), "x-faster-total")
}

package runner

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

// These tests run suites of testdata/ against the real engine, through Run
// as `cleanroom run` does, and check the report and the engine afterwards.

func loadSuites(t *testing.T, paths ...string) []*suite.Suite {
	t.Helper()
	var out []*suite.Suite
	for _, p := range paths {
		s, err := suite.Load(filepath.Join("testdata", p))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func runSuites(t *testing.T, opts Options, paths ...string) *report.Run {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := Run(ctx, loadSuites(t, paths...), opts)
	t.Cleanup(func() { assertNoSessionLeft(t, run) })
	return run
}

// mustPass fails the test with every step error and failure of the run.
func mustPass(t *testing.T, run *report.Run) {
	t.Helper()
	if run.Status == report.Passed {
		return
	}
	var b strings.Builder
	for _, s := range run.Suites {
		b.WriteString("suite " + s.Name + ": " + string(s.Status) + " " + s.Error + "\n")
		for _, sc := range s.Scenarios {
			b.WriteString("  " + sc.Name + ": " + string(sc.Status) + " " + sc.Error + "\n")
			for _, st := range sc.Steps {
				b.WriteString("    " + st.Name + ": " + string(st.Status) + " " + st.Error + "\n")
				for _, f := range st.Failures {
					b.WriteString("      " + f.Check + ": expected " + f.Expected + ", got " + f.Got + "\n")
				}
			}
		}
	}
	t.Fatalf("run %s, want passed:\n%s", run.Status, b.String())
}

func step(t *testing.T, s *report.Suite, scenario, name string) *report.Step {
	t.Helper()
	for _, sc := range s.Scenarios {
		if sc.Name != scenario {
			continue
		}
		for _, st := range sc.Steps {
			if st.Name == name {
				return st
			}
		}
	}
	t.Fatalf("suite %s has no step %s / %s", s.Name, scenario, name)
	return nil
}

func stdout(t *testing.T, st *report.Step) string {
	t.Helper()
	if st.Output == nil {
		t.Fatalf("step %s has no output", st.Name)
	}
	return st.Output.Stdout
}

// assertNoSessionLeft checks on the engine that every container and network
// of the run's sessions is gone.
func assertNoSessionLeft(t *testing.T, run *report.Run) {
	t.Helper()
	for _, s := range run.Suites {
		if s.Session == "" {
			continue
		}
		if cs, ns := sessionResources(t, s.Session); cs+len(ns) > 0 {
			t.Errorf("suite %s left %d container(s) and %d network(s) of session %s", s.Name, cs, len(ns), s.Session)
		}
	}
}

// sessionResources counts a session's containers and lists its networks.
func sessionResources(t *testing.T, session string) (containers int, networks []string) {
	t.Helper()
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	f := client.Filters{}.Add("label", "dev.cleanroom.session="+session)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		networks = append(networks, n.ID)
	}
	return len(cs.Items), networks
}

// TestRunJobs: with Jobs 2 two files run at the same time, each in its own
// session with its own network, and a service name both use ("web") names
// a different container in each.
func TestRunJobs(t *testing.T) {
	obs := &networkObserver{t: t, networks: map[string][]string{}}
	run := runSuites(t, Options{Jobs: 2, Observer: obs}, "jobs/a.cleanroom.toml", "jobs/b.cleanroom.toml")
	mustPass(t, run)
	a, b := run.Suites[0], run.Suites[1]
	if a.Session == "" || a.Session == b.Session {
		t.Errorf("sessions %q and %q, want two different ones", a.Session, b.Session)
	}
	na, nb := obs.networks[a.Session], obs.networks[b.Session]
	if len(na) != 1 || len(nb) != 1 || na[0] == nb[0] {
		t.Errorf("networks while running: %v and %v, want one of its own for each suite", na, nb)
	}
	// Each file's "web" answered with its own page, from the runner and
	// from inside the environment (the one-shot container resolves "web").
	for _, s := range run.Suites {
		if got := stdout(t, step(t, s, "own web", "from inside the environment")); !strings.Contains(got, strings.TrimPrefix(s.Name, "jobs-")) {
			t.Errorf("%s: web answered %q", s.Name, got)
		}
	}
	// They ran at the same time: each took over a second (the sleep) and
	// they overlapped.
	aEnd := a.Started.Add(time.Duration(a.DurationMS * float64(time.Millisecond)))
	bEnd := b.Started.Add(time.Duration(b.DurationMS * float64(time.Millisecond)))
	if !a.Started.Before(bEnd) || !b.Started.Before(aEnd) {
		t.Errorf("suites did not overlap: a %s+%.0fms, b %s+%.0fms", a.Started, a.DurationMS, b.Started, b.DurationMS)
	}
}

// networkObserver records the networks of each session while its first
// scenario runs.
type networkObserver struct {
	quiet
	t        *testing.T
	mu       sync.Mutex
	networks map[string][]string
}

func (o *networkObserver) ScenarioStarted(s *report.Suite, _ *report.Scenario) {
	_, ns := sessionResources(o.t, s.Session)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.networks[s.Session]; !ok {
		o.networks[s.Session] = ns
	}
}

// TestRunRestartPerScenario: a per-scenario generic service is a fresh
// container in every scenario (what scenario 1 wrote to /tmp is gone in
// scenario 2), a per-suite one keeps it, and the report counts restarts.
func TestRunRestartPerScenario(t *testing.T) {
	run := runSuites(t, Options{}, "restart.cleanroom.toml")
	mustPass(t, run)
	restarts := map[string]int{}
	for _, svc := range run.Suites[0].Services {
		restarts[svc.Name] = svc.Restarts
	}
	// The per-scenario service is replaced before each of the 3 scenarios
	// (also the first, so that every scenario starts from the same state:
	// nothing another service did while starting survives).
	if restarts["fresh"] != 3 || restarts["kept"] != 0 {
		t.Errorf("restarts %v, want fresh 3 (one per scenario) and kept 0", restarts)
	}
}

// TestRunTemplates: a service's env gets its dependency's internal URL, a
// step gets the host URL; .seed is the suite's seed, and every container
// (service and one-shot) sees it as CLEANROOM_SEED.
func TestRunTemplates(t *testing.T) {
	run := runSuites(t, Options{}, "templates.cleanroom.toml")
	mustPass(t, run)
	s := run.Suites[0]
	if s.Seed != 7 {
		t.Errorf("seed %d, want the file's 7", s.Seed)
	}
	internal := strings.Split(strings.TrimSpace(stdout(t, step(t, s, "urls and seed", "internal url"))), "\n")
	if len(internal) != 2 || internal[1] != "db:5432" {
		t.Fatalf("internal url and address: %q, want [URL db:5432]", internal)
	}
	iu, err := url.Parse(internal[0])
	if err != nil || iu.Scheme != "postgres" || iu.Host != "db:5432" || iu.Path != "/app" {
		t.Errorf("internal url %q: want postgres://…@db:5432/app (%v)", internal[0], err)
	}
	host := strings.Fields(stdout(t, step(t, s, "urls and seed", "host url")))
	if len(host) != 3 {
		t.Fatalf("host url, host, port: %q", host)
	}
	hu, err := url.Parse(host[0])
	// Under the default isolated network the runner reaches the server at
	// its address on the session's network.
	if err != nil || net.ParseIP(hu.Hostname()) == nil || hu.Hostname() != host[1] || hu.Port() != host[2] || hu.Path != "/app" {
		t.Errorf("host url %q (host %s, port %s): want postgres://…@<address>:<port>/app with that host and port (%v)", host[0], host[1], host[2], err)
	}
	if iu.User.String() != hu.User.String() {
		t.Errorf("internal and host URLs have different credentials: %q, %q", iu.User, hu.User)
	}
	// A service sees the suite's seed; a step its own, derived from the
	// scenario's, derived from the suite's.
	sc := s.Scenarios[0]
	st := step(t, s, "urls and seed", "seed")
	if want := deriveSeed(deriveSeed(7, sc.Name), "seed"); sc.Seed != deriveSeed(7, sc.Name) || st.Seed != want {
		t.Errorf("scenario seed %d, step seed %d: want them derived from 7", sc.Seed, st.Seed)
	}
	if got, want := stdout(t, st), fmt.Sprintf("%d 7 %d\nCLEANROOM_SEED=7\n", st.Seed, st.Seed); got != want {
		t.Errorf("seed in template, service env, exec env, container env: %q, want %q", got, want)
	}
	oneShot := step(t, s, "urls and seed", "seed in a one-shot container")
	if got := stdout(t, oneShot); got != fmt.Sprintf("%d\n", oneShot.Seed) || oneShot.Seed == st.Seed {
		t.Errorf("one-shot container's CLEANROOM_SEED: %q, want its step's seed %d", got, oneShot.Seed)
	}
}

// TestRunSeedOverride: Options.Seed (--seed) wins over the file's seed, in
// templates and in every container's CLEANROOM_SEED.
func TestRunSeedOverride(t *testing.T) {
	seed := int64(99)
	run := runSuites(t, Options{Seed: &seed}, "seed.cleanroom.toml")
	mustPass(t, run)
	s := run.Suites[0]
	if s.Seed != 99 {
		t.Errorf("report seed %d, want 99", s.Seed)
	}
	st := step(t, s, "seed", "everywhere")
	if want := fmt.Sprintf("%d %d\nCLEANROOM_SEED=99\n", st.Seed, st.Seed); st.Seed != deriveSeed(deriveSeed(99, "seed"), "everywhere") || stdout(t, st) != want {
		t.Errorf("seed in template, exec env, container env: %q (step seed %d), want %q", stdout(t, st), st.Seed, want)
	}
}

// TestRunSuiteTimeout: a suite's timeout stops the step running at that
// moment (its 30 s sleep), reports the scenario as an error saying why,
// leaves the next scenario skipped, and removes everything.
//
// It bounds no wall-clock time of the run (start-up varies with the load on
// the machine); the step's own 300 s sleep is the bound: a step reported
// well before it ended was stopped by the timeout.
func TestRunSuiteTimeout(t *testing.T) {
	run := runSuites(t, Options{}, "timeout.cleanroom.toml")
	if st := run.Suites[0].Scenarios[0].Steps[0]; st.DurationMS > 150_000 {
		t.Errorf("the sleeping step ran %.0f ms; the suite timeout did not stop it", st.DurationMS)
	}
	s := run.Suites[0]
	if s.Status != report.Errored {
		t.Errorf("suite %s, want error", s.Status)
	}
	sc := s.Scenarios[0]
	if sc.Status != report.Errored || sc.Error != "suite timeout expired" {
		t.Errorf("scenario: %s %q, want error \"suite timeout expired\"", sc.Status, sc.Error)
	}
	if st := sc.Steps[0]; st.Status != report.Errored || st.DurationMS > 5000 {
		t.Errorf("step: %s after %.0fms (%s), want error within the 2s", st.Status, st.DurationMS, st.Error)
	}
	if got := s.Scenarios[1].Status; got != report.Skipped {
		t.Errorf("next scenario %s, want skipped", got)
	}
	if sum := run.Summary; sum.Errored != 1 || sum.Skipped != 1 || sum.Passed+sum.Failed != 0 {
		t.Errorf("summary %+v", run.Summary)
	}
}

// TestRunFailFast: the first failed scenario stops the run: the rest of its
// file and the files after it are skipped (and never start an environment).
func TestRunFailFast(t *testing.T) {
	run := runSuites(t, Options{FailFast: true}, "failfast/1-fails.cleanroom.toml", "failfast/2-later.cleanroom.toml")
	first, later := run.Suites[0], run.Suites[1]
	if first.Status != report.Failed || first.Scenarios[0].Status != report.Failed || first.Scenarios[1].Status != report.Skipped {
		t.Errorf("first file: %s, scenarios %s and %s; want failed, then skipped", first.Status, first.Scenarios[0].Status, first.Scenarios[1].Status)
	}
	if later.Status != report.Skipped || later.Scenarios[0].Status != report.Skipped || later.Session != "" {
		t.Errorf("later file: %s, scenario %s, session %q; want skipped without an environment", later.Status, later.Scenarios[0].Status, later.Session)
	}
	if sum := run.Summary; sum.Failed != 1 || sum.Skipped != 2 || sum.Passed+sum.Errored != 0 {
		t.Errorf("summary %+v, want 1 failed, 2 skipped", run.Summary)
	}
}

// TestRunSQL: rows come back typed (int, text, numeric, bool, bigint beyond
// float64's precision), a captured cell is used by a later step, and a step
// may hold several statements (its rows and rows_affected are those of the
// last; an error in any rolls back the whole step).
func TestRunSQL(t *testing.T) {
	run := runSuites(t, Options{}, "sql.cleanroom.toml")
	mustPass(t, run)
	st := step(t, run.Suites[0], "typed rows and captures", "typed select")
	// The cells are pgx's typed values, not text, although the step runs
	// over the simple protocol.
	if len(st.Output.Rows) != 2 {
		t.Fatalf("rows: %v", st.Output.Rows)
	}
	var types []string
	for _, cell := range st.Output.Rows[0] {
		types = append(types, fmt.Sprintf("%T", cell))
	}
	if got, want := strings.Join(types, " "), "int32 string pgtype.Numeric bool int64"; got != want {
		t.Errorf("cell types %s, want %s", got, want)
	}
	want := map[string]string{"first": "ada", "balance": "12.50", "id": "2"}
	for k, v := range want {
		if st.Captured[k] != v {
			t.Errorf("captured %s = %q, want %q", k, st.Captured[k], v)
		}
	}
}

// TestCellValue: captured SQL cells render in templates as PostgreSQL
// writes them, not as Go structs or byte lists.
func TestCellValue(t *testing.T) {
	var num pgtype.Numeric
	if err := num.Scan("12.50"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cell any
		want string
	}{
		{int32(7), "7"},
		{"ada", "ada"},
		{true, "true"},
		{num, "12.50"},
		{[16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}, "12345678-9abc-def0-1234-56789abcdef0"},
		{time.Date(2024, 2, 29, 12, 30, 0, 500, time.UTC), "2024-02-29T12:30:00.0000005Z"},
		{[]byte("bytes"), "bytes"},
		{pgtype.Interval{Days: 1, Valid: true}, "1 day 00:00:00"},
	}
	for _, tt := range tests {
		v := cellValue(tt.cell)
		if got := fmt.Sprint(v); got != tt.want {
			t.Errorf("cellValue(%#v) prints %q, want %q", tt.cell, got, tt.want)
		}
	}
}

// TestRunServiceEnv: env given to a postgres or redis service reaches its
// container (a redis service with env once panicked the runner).
func TestRunServiceEnv(t *testing.T) {
	run := runSuites(t, Options{}, "env.cleanroom.toml")
	s := run.Suites[0]
	if s.Status != report.Passed {
		t.Fatalf("suite %s (%s): %+v", s.Status, s.Error, s.Scenarios[0].Steps)
	}
	for _, name := range []string{"postgres", "redis"} {
		if st := step(t, s, "env reaches the containers", name); st.Status != report.Passed {
			t.Errorf("step %s: %s %v %s", name, st.Status, st.Failures, st.Error)
		}
	}
}

// panickyObserver fails inside the runner, standing in for a bug.
type panickyObserver struct{ quiet }

func (panickyObserver) SuiteStarted(*report.Suite) { panic("boom") }

// TestRunRecoversFromABug: a panic inside a suite's run becomes that suite's
// error instead of crashing the command.
func TestRunRecoversFromABug(t *testing.T) {
	run := Run(t.Context(), loadSuites(t, "env.cleanroom.toml"), Options{Observer: panickyObserver{}})
	s := run.Suites[0]
	if s.Status != report.Errored || !strings.Contains(s.Error, "internal error") || !strings.Contains(s.Error, "boom") {
		t.Errorf("suite %s, error %q; want an internal error naming the panic", s.Status, s.Error)
	}
}

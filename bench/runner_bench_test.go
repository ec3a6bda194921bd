package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the testcontainers module's Restore
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/suite"
)

// The benchmarks of issue 3 measure `cleanroom run`: suites generated into
// b.TempDir(), run through runner.Run (or, for memory, the cleanroom binary
// as a child process), against the plain way of doing the same with the
// engine API or testcontainers, side by side in one benchmark. Their results
// are in docs/benchmarks.md, section "Issue 3: cleanroom run".

const (
	// execSteps is the number of `true` steps of the exec suite; one
	// iteration of BenchmarkRunExecStep runs the suite once.
	execSteps = 50
	// execWarmup steps (and as many raw execs) at the start of each run are
	// not recorded: the first execs in a new container are slower.
	execWarmup = 3

	// pgScenarios is the size of the PostgreSQL suite.
	pgScenarios = 20

	// resetsPerOp is how many resets of each kind one iteration of
	// BenchmarkResetPostgres times, after resetWarmup untimed ones.
	resetsPerOp = 20
	resetWarmup = 5

	// The memory suite: memScenarios × 10 steps (500), and a ten times
	// smaller one run in the same iteration to show how RSS grows with
	// the number of steps.
	memScenarios      = 50
	memSmallScenarios = 5
	memTargetMiB      = 100
)

// ---------------------------------------------------------------------------
// 5. Per-step overhead of an exec step.

// BenchmarkRunExecStep runs a suite of one busybox service and execSteps
// steps `exec = ["true"]` through runner.Run, and after every step, from the
// runner's own Observer callback (so on the same goroutine, between two
// steps), the same command in the same container through the engine API
// (ExecCreate, ExecAttach, ExecInspect with the moby client the runner's
// backend uses). The two sides thus alternate one for one.
//
// cleanroom-ms/step is the wall time from the end of one observer callback
// to the start of the next: everything the runner does for a step (render,
// exec, check, report) and between steps. runner-ms/step is the step's own
// duration_ms from the report. x-slower compares cleanroom-ms/step with
// raw-ms/exec (target ≤ 1.2).
func BenchmarkRunExecStep(b *testing.B) {
	ctx := b.Context()
	var sb strings.Builder
	sb.WriteString(`name = "exec-overhead"

[services.box]
type = "generic"
image = "busybox:latest"
command = ["sleep", "3600"]

[[scenario]]
name = "true steps"
`)
	for i := range execSteps {
		fmt.Fprintf(&sb, "\n[[scenario.step]]\nname = \"true %d\"\nservice = \"box\"\nexec = [\"true\"]\n", i)
	}
	path := writeSuite(b, "exec", sb.String())

	be, err := docker.New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	obs := &execObserver{ctx: ctx, cli: be.Client()}
	for b.Loop() {
		s, err := suite.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		obs.reset()
		run := runner.Run(ctx, []*suite.Suite{s}, runner.Options{Observer: obs, Env: []cleanroom.Option{cleanroom.WithBackend(be)}})
		if obs.err != nil {
			b.Fatal(obs.err)
		}
		mustPassRun(b, run)
		checkSessionsGone(b, run)
	}
	b.ReportMetric(0, "ns/op") // an op is a run of the suite; the metrics below are per step
	b.ReportMetric(ms(obs.step.mean()), "cleanroom-ms/step")
	b.ReportMetric(ms(obs.reported.mean()), "runner-ms/step")
	b.ReportMetric(ms(obs.raw.mean()), "raw-ms/exec")
	b.ReportMetric(ms(obs.step.pct(50)), "cleanroom-p50-ms")
	b.ReportMetric(ms(obs.raw.pct(50)), "raw-p50-ms")
	b.ReportMetric(ratio(obs.step.mean(), obs.raw.mean()), "x-slower")
	b.ReportMetric(ratio(obs.step.pct(50), obs.raw.pct(50)), "x-slower-p50")
	b.ReportMetric(ratio(obs.reported.mean(), obs.raw.mean()), "x-slower-runner")
}

// execObserver times the runner's steps and runs a raw exec after each.
// Its callbacks run on the suite's goroutine, so it keeps the first error
// for the benchmark goroutine to report.
type execObserver struct {
	ctx context.Context
	cli *client.Client

	id    string    // the box container of the current run
	last  time.Time // end of the previous callback
	steps int       // steps seen in the current run
	err   error

	step, reported, raw durations
}

func (o *execObserver) reset() { o.id, o.steps, o.err = "", 0, nil }

func (o *execObserver) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

func (o *execObserver) ServiceReady(s *report.Suite, svc *report.Service) {
	list, err := o.cli.ContainerList(o.ctx, client.ContainerListOptions{Filters: client.Filters{}.
		Add("label", backend.LabelSession+"="+s.Session).Add("label", backend.LabelService+"="+svc.Name)})
	if err != nil {
		o.fail(err)
		return
	}
	if len(list.Items) != 1 {
		o.fail(fmt.Errorf("service %s of session %s: %d containers, want 1", svc.Name, s.Session, len(list.Items)))
		return
	}
	o.id = list.Items[0].ID
}

func (o *execObserver) ScenarioStarted(*report.Suite, *report.Scenario) { o.last = time.Now() }

func (o *execObserver) StepFinished(_ *report.Suite, _ *report.Scenario, st *report.Step) {
	now := time.Now()
	o.steps++
	record := o.steps > execWarmup
	if st.Status != report.Passed {
		o.fail(fmt.Errorf("step %s: %s %s", st.Name, st.Status, st.Error))
	}
	if record {
		o.step = append(o.step, now.Sub(o.last))
		o.reported = append(o.reported, time.Duration(st.DurationMS*float64(time.Millisecond)))
	}
	t0 := time.Now()
	code, _, _, err := rawExecRoundTrip(o.ctx, o.cli, o.id, []string{"true"})
	d := time.Since(t0)
	if err != nil || code != 0 {
		o.fail(fmt.Errorf("raw exec: %v, exit %d", err, code))
	}
	if record {
		o.raw = append(o.raw, d)
	}
	o.last = time.Now()
}

func (o *execObserver) SuiteStarted(*report.Suite)                       {}
func (o *execObserver) ScenarioFinished(*report.Suite, *report.Scenario) {}
func (o *execObserver) SuiteFinished(*report.Suite)                      {}
func (o *execObserver) Log(string, ...any)                               {}

// ---------------------------------------------------------------------------
// 6. A PostgreSQL suite: clean state per scenario.

// pgSuiteSQL are the steps of every scenario of the PostgreSQL suite, with
// what each must return: the first row of a clean table gets id 1, and
// the table then holds exactly one row, so each step also proves that the
// scenario started from the clean state.
var pgSuiteSQL = []struct {
	sql, expect string
	want        int64
}{
	{"INSERT INTO items (name) VALUES ('scenario') RETURNING id", "rows = [[1]]", 1},
	{"UPDATE items SET name = 'updated' WHERE id = 1", "rows_affected = 1", 1},
	{"SELECT count(*) FROM items WHERE name = 'updated'", "rows = [[1]]", 1},
}

func pgSuite(scenarios int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `name = "postgres-clean-state"

[services.db]
type = "postgres"
image = "postgres:16"
database = "app"
init_sql = [%q]
`, initSQL)
	for i := range scenarios {
		fmt.Fprintf(&sb, "\n[[scenario]]\nname = \"scenario %d\"\n", i)
		for j, st := range pgSuiteSQL {
			fmt.Fprintf(&sb, "\n[[scenario.step]]\nname = \"step %d\"\nservice = \"db\"\nsql = %q\nexpect = { %s }\n", j, st.sql, st.expect)
		}
	}
	return sb.String()
}

// BenchmarkRunPostgresSuite runs a suite of pgScenarios scenarios, each of
// three sql steps writing and reading one table, two ways, alternating which
// goes first:
//
//   - cleanroom: runner.Run on the suite file (load, environment, one
//     PostgreSQL service, the in-place reset before every scenario, the
//     steps, removal of everything);
//   - fresh-container: what naive testcontainers code does for a clean
//     database per test: for every scenario the testcontainers postgres
//     module's Run (the same fixture image, the same init SQL as an init
//     script, its BasicWaitStrategies), the same statements through pgx, and
//     Terminate.
//
// The fresh containers get cleanroom's storage settings (data directory on
// a tmpfs, the same test flags), so that the ratio is that of the clean
// state technique and not of the storage; the module's defaults (disk) are
// slower still. x-faster compares the wall times of the whole suite (target
// ≥ 10); x-faster-per-scenario leaves out cleanroom's one-time start-up and
// removal of the service.
func BenchmarkRunPostgresSuite(b *testing.B) {
	ctx := b.Context()
	requireHostOverride(b)
	tcCleanup(b)
	path := writeSuite(b, "pg", pgSuite(pgScenarios))
	initFile := writeFile(b, "init.sql", initSQL+";\n")

	var crTotal, crScenario, crReset, crStart, naiveTotal, naiveStart, naiveBody, naiveTerm durations
	cleanroomRun := func() {
		t0 := time.Now()
		s, err := suite.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		run := runner.Run(ctx, []*suite.Suite{s}, runner.Options{})
		crTotal = append(crTotal, time.Since(t0))
		mustPassRun(b, run)
		checkSessionsGone(b, run)
		sr := run.Suites[0]
		crStart = append(crStart, msDuration(sr.Services[0].ReadyMS))
		for _, sc := range sr.Scenarios {
			crScenario = append(crScenario, msDuration(sc.DurationMS))
			crReset = append(crReset, msDuration(sc.ResetMS))
		}
	}
	naiveRun := func() {
		t0 := time.Now()
		for range pgScenarios {
			t1 := time.Now()
			ctr, err := tcpostgres.Run(ctx, fixturePostgres, tcPostgresOpts(initFile, true)...)
			if err != nil {
				if ctr != nil {
					_ = ctr.Terminate(context.WithoutCancel(ctx))
				}
				b.Fatal(err)
			}
			t2 := time.Now()
			dsn, err := ctr.ConnectionString(ctx, "sslmode=disable")
			if err == nil {
				err = naiveScenario(ctx, dsn)
			}
			if err != nil {
				_ = ctr.Terminate(context.WithoutCancel(ctx))
				b.Fatal(err)
			}
			t3 := time.Now()
			if err := ctr.Terminate(ctx); err != nil {
				b.Fatal(err)
			}
			naiveStart = append(naiveStart, t2.Sub(t1))
			naiveBody = append(naiveBody, t3.Sub(t2))
			naiveTerm = append(naiveTerm, time.Since(t3))
		}
		naiveTotal = append(naiveTotal, time.Since(t0))
	}
	i := 0
	for b.Loop() {
		i++
		if i%2 == 1 {
			cleanroomRun()
			naiveRun()
		} else {
			naiveRun()
			cleanroomRun()
		}
	}
	b.ReportMetric(0, "ns/op") // an op runs the suite both ways; the metrics below are per suite or scenario
	b.ReportMetric(crTotal.mean().Seconds(), "cleanroom-s/suite")
	b.ReportMetric(naiveTotal.mean().Seconds(), "fresh-s/suite")
	b.ReportMetric(ms(crStart.mean()), "cleanroom-start-ms")
	b.ReportMetric(ms(crScenario.mean()), "cleanroom-ms/scenario")
	b.ReportMetric(ms(crReset.mean()), "reset-ms")
	b.ReportMetric(ms(crReset.pct(50)), "reset-p50-ms")
	b.ReportMetric(ms(crReset.pct(95)), "reset-p95-ms")
	b.ReportMetric(over(crReset, 100*time.Millisecond), "reset-over-100ms-%")
	b.ReportMetric(ms(naiveStart.mean()), "fresh-start-ms")
	b.ReportMetric(ms(naiveBody.mean()), "fresh-body-ms")
	b.ReportMetric(ms(naiveTerm.mean()), "fresh-terminate-ms")
	naivePerScenario := naiveTotal.mean() / pgScenarios
	b.ReportMetric(ms(naivePerScenario), "fresh-ms/scenario")
	b.ReportMetric(ratio(naiveTotal.mean(), crTotal.mean()), "x-faster")
	b.ReportMetric(ratio(naivePerScenario, crScenario.mean()), "x-faster-per-scenario")
}

// naiveScenario is one scenario of the PostgreSQL suite as a Go test with
// pgx would write it, with the same checks as the suite's expectations.
func naiveScenario(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, st := range pgSuiteSQL {
		var got int64
		if strings.HasPrefix(st.sql, "UPDATE") {
			tag, err := conn.Exec(ctx, st.sql)
			if err != nil {
				return err
			}
			got = tag.RowsAffected()
		} else if err := conn.QueryRow(ctx, st.sql).Scan(&got); err != nil {
			return err
		}
		if got != st.want {
			return fmt.Errorf("%s: got %d, want %d", st.sql, got, st.want)
		}
	}
	return nil
}

// tcPostgresOpts are the options of a testcontainers postgres module
// container: cleanroom's database, user and password, the init SQL as an
// init script, the module's own wait strategies, labels for the cleanup.
// With sameStorage, the data directory is on a tmpfs and the server runs
// with cleanroom's test flags, as postgres.Spec does; without, the module's
// defaults (the container's layer, fsync=off only).
func tcPostgresOpts(initFile string, sameStorage bool) []testcontainers.ContainerCustomizer {
	opts := []testcontainers.ContainerCustomizer{
		tcpostgres.WithDatabase(postgres.DefaultDatabase),
		tcpostgres.WithUsername(postgres.DefaultUser),
		tcpostgres.WithPassword(postgres.DefaultPassword),
		tcpostgres.WithInitScripts(initFile),
		tcpostgres.BasicWaitStrategies(),
		tcpostgres.WithSQLDriver("pgx"),
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		testcontainers.WithLabels(map[string]string{benchLabel: benchOwner}),
	}
	if sameStorage {
		opts = append(opts,
			testcontainers.WithEnv(map[string]string{"PGDATA": postgres.DataDir}),
			testcontainers.WithTmpfs(map[string]string{postgres.DataDir: "rw"}),
			testcontainers.WithCmd(append([]string{"postgres"}, postgres.TestFlags...)...),
		)
	}
	return opts
}

// ---------------------------------------------------------------------------
// 7. The in-place reset alone.

// BenchmarkResetPostgres compares the runner's reset of a PostgreSQL
// database with testcontainers' postgres module Snapshot/Restore:
//
//   - swap-in: postgres.Cloner.SwapIn on a service started with
//     postgres.Spec, set up as runner/services.go prepareReset does (a copy
//     of the database right after init SQL as the template, a Cloner with 2
//     clones ahead and 1 worker): drop the used database, rename a clone
//     made ahead of time;
//   - restore: the module's Restore after a Snapshot taken right after the
//     init script (drop the database, CREATE DATABASE … WITH TEMPLATE the
//     snapshot), on a module container with cleanroom's storage settings;
//   - restore-default: the same on a container with the module's defaults.
//
// Before every reset runs the same small test body (connect, INSERT,
// SELECT count(*), which fails unless the previous reset gave a clean
// database, disconnect), and the reset follows at once, as the runner resets
// right after a scenario's connections close; the body is not timed. The
// three sides take turns, so a database's next reset comes after the other
// two sides' turns: the Cloner always has a clone ready, and swap-in is the
// latency of the reset, not the server's throughput of clones (which
// BenchmarkRunPostgresSuite's reset-ms includes). x-faster is restore over
// swap-in (target ≥ 10).
func BenchmarkResetPostgres(b *testing.B) {
	ctx := b.Context()
	requireHostOverride(b)
	tcCleanup(b)
	env := newEnv(b)
	initFile := writeFile(b, "init.sql", initSQL+";\n")

	var (
		wg           sync.WaitGroup
		crErr        error
		crDSN        string
		cl           *postgres.Cloner
		tcs          [2]*tcpostgres.PostgresContainer
		tcDSN        [2]string
		tcErrs       [2]error
		releaseSwaps = func() {}
	)
	wg.Go(func() {
		insts, err := env.Start(ctx, postgres.Spec("db", postgres.WithInitSQL(initSQL)))
		if err != nil {
			crErr = err
			return
		}
		crDSN = insts[0].URL
		// As runner/services.go prepareReset does it.
		admin := postgres.WithDatabaseName(crDSN, "postgres")
		template := postgres.DefaultDatabase + "_cleanroom_template"
		if crErr = postgres.CopyDatabase(ctx, admin, postgres.DefaultDatabase, template); crErr != nil {
			return
		}
		cl, crErr = postgres.NewCloner(ctx, admin, template, postgres.WithAhead(2), postgres.WithWorkers(1))
		if crErr == nil {
			releaseSwaps = func() { _ = cl.Close(context.WithoutCancel(ctx)) }
		}
	})
	for k, same := range []bool{true, false} {
		wg.Go(func() {
			ctr, err := tcpostgres.Run(ctx, fixturePostgres, tcPostgresOpts(initFile, same)...)
			tcs[k] = ctr
			if err != nil {
				tcErrs[k] = err
				return
			}
			if tcDSN[k], err = ctr.ConnectionString(ctx, "sslmode=disable"); err != nil {
				tcErrs[k] = err
				return
			}
			tcErrs[k] = ctr.Snapshot(ctx)
		})
	}
	wg.Wait()
	defer releaseSwaps()
	for _, c := range tcs {
		if c != nil {
			defer func() {
				if err := c.Terminate(context.WithoutCancel(ctx)); err != nil {
					b.Error(err)
				}
			}()
		}
	}
	if err := errors.Join(crErr, tcErrs[0], tcErrs[1]); err != nil {
		b.Fatal(err)
	}

	var swap, restore, restoreDefault durations
	// A side is a test body on its database, then the reset that follows
	// it: as in the runner, where a scenario's connections close right
	// before the next scenario's reset.
	side := func(dsn string, reset func(context.Context) error, into *durations) func(record bool) {
		return func(record bool) {
			if err := testBody(ctx, dsn); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if err := reset(ctx); err != nil {
				b.Fatal(err)
			}
			if record {
				*into = append(*into, time.Since(t0))
			}
		}
	}
	sides := []func(record bool){
		side(crDSN, func(ctx context.Context) error { return cl.SwapIn(ctx, postgres.DefaultDatabase) }, &swap),
		side(tcDSN[0], func(ctx context.Context) error { return tcs[0].Restore(ctx) }, &restore),
		side(tcDSN[1], func(ctx context.Context) error { return tcs[1].Restore(ctx) }, &restoreDefault),
	}
	round := func(i int, record bool) {
		for j := range sides {
			sides[(i+j)%len(sides)](record)
		}
	}
	for i := range resetWarmup {
		round(i, false)
	}
	i := 0
	for b.Loop() {
		for range resetsPerOp {
			i++
			round(i, true)
		}
	}
	b.ReportMetric(0, "ns/op") // an op is resetsPerOp resets of each kind; the metrics below are per reset
	b.ReportMetric(ms(swap.mean()), "swapin-ms")
	b.ReportMetric(ms(swap.pct(50)), "swapin-p50-ms")
	b.ReportMetric(ms(swap.pct(95)), "swapin-p95-ms")
	b.ReportMetric(over(swap, 100*time.Millisecond), "swapin-over-100ms-%")
	b.ReportMetric(ms(restore.mean()), "restore-ms")
	b.ReportMetric(ms(restore.pct(50)), "restore-p50-ms")
	b.ReportMetric(ms(restore.pct(95)), "restore-p95-ms")
	b.ReportMetric(over(restore, 100*time.Millisecond), "restore-over-100ms-%")
	b.ReportMetric(ms(restoreDefault.mean()), "restore-default-ms")
	b.ReportMetric(ratio(restore.mean(), swap.mean()), "x-faster")
	b.ReportMetric(ratio(restore.pct(50), swap.pct(50)), "x-faster-p50")
	b.ReportMetric(ratio(restoreDefault.mean(), swap.mean()), "x-faster-default")
}

// ---------------------------------------------------------------------------
// 8. Peak memory of `cleanroom run`.

// memSuite generates a suite of scenarios × 10 steps over three services
// (PostgreSQL, Redis, a busybox web server): per scenario 3 exec, 3 sql,
// 2 redis and 2 http steps, with captures flowing from one to the next and
// expectations on every step. The exec steps print about 1 KiB, so that the
// report holds some output.
func memSuite(scenarios int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `name = "memory"

[services.db]
type = "postgres"
image = "postgres:16"
database = "app"
init_sql = [%q]

[services.cache]
type = "redis"
image = "redis:7"

[services.web]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080", "-h", "/www"]
ports = [8080]
files = { "/www/index.html" = "index.html" }
wait = { http = "/", port = 8080, status = 200, timeout = "30s" }
`, initSQL)
	steps := []string{
		`service = "web"
exec = ["sh", "-c", "echo scenario {{ .vars.n }}; seq 1 200"]
expect = { stdout_contains = ["scenario {{ .vars.n }}", "200"] }`,
		`service = "db"
sql = "INSERT INTO items (name) VALUES ('s{{ .vars.n }}') RETURNING id, name"
expect = { rows = [[1, "s{{ .vars.n }}"]] }
capture = { item_id = "rows[0].id" }`,
		`service = "cache"
redis = ["SET", "item:{{ .vars.item_id }}", "s{{ .vars.n }}"]
expect = { reply = "OK" }`,
		`http = { service = "web", port = 8080, path = "/" }
expect = { status = 200, body_contains = ["<h1>"] }`,
		`service = "web"
exec = ["sh", "-c", "echo {{ .vars.item_id }} >&2; exit 0"]
expect = { stderr = "1\n" }`,
		`service = "db"
sql = "SELECT count(*) AS n FROM items"
expect = { rows = [[1]], row_count = 1 }`,
		`service = "cache"
redis = ["GET", "item:{{ .vars.item_id }}"]
expect = { reply = "s{{ .vars.n }}" }`,
		`http = { service = "web", port = 8080, method = "GET", path = "/index.html" }
expect = { status = 200, body_matches = "cleanroom" }`,
		`service = "web"
exec = ["cat", "/www/index.html"]
expect = { stdout_contains = ["<h1>"] }`,
		`service = "db"
sql = "UPDATE items SET name = 'done' WHERE id = {{ .vars.item_id }}"
expect = { rows_affected = 1 }`,
	}
	for i := range scenarios {
		fmt.Fprintf(&sb, "\n[[scenario]]\nname = \"scenario %d\"\n", i)
		for j, st := range steps {
			// Vars are per suite, so the scenario's number is written
			// into the text.
			st = strings.ReplaceAll(st, "{{ .vars.n }}", fmt.Sprint(i))
			fmt.Fprintf(&sb, "\n[[scenario.step]]\nname = \"step %d\"\n%s\n", j, st)
		}
	}
	return sb.String()
}

// BenchmarkRunMemory builds the cleanroom binary, runs `cleanroom run` with
// a JSON and a JUnit report on a generated suite of memScenarios × 10 = 500
// steps as a child process, and reports the child's peak resident set size
// (getrusage's ru_maxrss, from the wait for the child). The same iteration
// runs a suite of 50 steps, so that the difference shows what the 450 more
// steps cost. Target: ≤ 100 MB RSS on the 500-step suite.
func BenchmarkRunMemory(b *testing.B) {
	ctx := b.Context()
	dir := b.TempDir()
	bin := filepath.Join(dir, "cleanroom")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cleanroomhq/cleanroom/cmd/cleanroom")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	root, err := filepath.Abs("..") // where cleanroom.toml maps the images
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html><body><h1>cleanroom</h1></body></html>\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	big := filepath.Join(dir, "big.cleanroom.toml")
	small := filepath.Join(dir, "small.cleanroom.toml")
	for p, n := range map[string]int{big: memScenarios, small: memSmallScenarios} {
		if err := os.WriteFile(p, []byte(memSuite(n)), 0o644); err != nil {
			b.Fatal(err)
		}
	}

	var bigRSS, smallRSS []float64 // MiB
	var bigWall durations
	runChild := func(path string, steps int) (float64, time.Duration) {
		jsonReport := filepath.Join(dir, "report.json")
		cmd := exec.CommandContext(ctx, bin, "run", "--report-json", jsonReport, "--report-junit", filepath.Join(dir, "report.xml"), path)
		cmd.Dir = root
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		wall := time.Since(t0)
		if err != nil {
			b.Fatalf("cleanroom run %s: %v\n%s", filepath.Base(path), err, tail(out.String(), 40))
		}
		f, err := os.Open(jsonReport)
		if err != nil {
			b.Fatal(err)
		}
		run, err := report.ReadJSON(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		mustPassRun(b, run)
		if n := countSteps(run); n != steps {
			b.Fatalf("%s: %d steps passed, want %d", filepath.Base(path), n, steps)
		}
		checkSessionsGone(b, run)
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			b.Skip("no rusage on this platform")
		}
		return float64(ru.Maxrss) / 1024, wall // ru_maxrss is in KiB on Linux
	}
	i := 0
	for b.Loop() {
		i++
		if i%2 == 1 {
			rss, wall := runChild(big, memScenarios*10)
			bigRSS, bigWall = append(bigRSS, rss), append(bigWall, wall)
			rss, _ = runChild(small, memSmallScenarios*10)
			smallRSS = append(smallRSS, rss)
		} else {
			rss, _ := runChild(small, memSmallScenarios*10)
			smallRSS = append(smallRSS, rss)
			rss, wall := runChild(big, memScenarios*10)
			bigRSS, bigWall = append(bigRSS, rss), append(bigWall, wall)
		}
	}
	maxBig := maxOf(bigRSS)
	b.ReportMetric(0, "ns/op") // an op runs both suites; the metrics below are per run
	b.ReportMetric(maxBig, "peak-rss-MiB")
	b.ReportMetric(meanOf(bigRSS), "rss-MiB")
	b.ReportMetric(meanOf(smallRSS), "rss-50-steps-MiB")
	b.ReportMetric((meanOf(bigRSS)-meanOf(smallRSS))*1024/float64((memScenarios-memSmallScenarios)*10), "KiB/step")
	b.ReportMetric(bigWall.mean().Seconds(), "run-s")
	b.ReportMetric(maxBig*(1<<20)/1e6/memTargetMiB, "x-of-target") // the target's MB are 10⁶ bytes
}

// ---------------------------------------------------------------------------
// Helpers of the runner benchmarks.

// writeSuite writes a generated suite into a fresh temporary directory and
// returns its path.
func writeSuite(b *testing.B, name, content string) string {
	b.Helper()
	return writeFile(b, name+".cleanroom.toml", content)
}

func writeFile(b *testing.B, name, content string) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// requireHostOverride stops a benchmark that would make testcontainers'
// wait strategies dial the default gateway (see DESIGN.md).
func requireHostOverride(b *testing.B) {
	b.Helper()
	if _, err := os.Stat("/.dockerenv"); err == nil && os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		b.Fatal("set TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1: this machine has /.dockerenv, so testcontainers would reach containers through the default gateway")
	}
}

// mustPassRun fails b with every step error and failure of a run.
func mustPassRun(b *testing.B, run *report.Run) {
	b.Helper()
	if run.Status == report.Passed {
		return
	}
	var sb strings.Builder
	for _, s := range run.Suites {
		fmt.Fprintf(&sb, "suite %s: %s %s\n", s.Name, s.Status, s.Error)
		for _, sc := range s.Scenarios {
			if sc.Status == report.Passed {
				continue
			}
			fmt.Fprintf(&sb, "  %s: %s %s\n", sc.Name, sc.Status, sc.Error)
			for _, st := range sc.Steps {
				if st.Status == report.Passed {
					continue
				}
				fmt.Fprintf(&sb, "    %s: %s %s\n", st.Name, st.Status, st.Error)
				for _, f := range st.Failures {
					fmt.Fprintf(&sb, "      %s: expected %s, got %s\n", f.Check, f.Expected, f.Got)
				}
			}
		}
	}
	b.Fatalf("run %s, want passed:\n%s", run.Status, tail(sb.String(), 40))
}

// checkSessionsGone fails b when a container of the run's sessions is left.
func checkSessionsGone(b *testing.B, run *report.Run) {
	b.Helper()
	for _, s := range run.Suites {
		if s.Session == "" {
			continue
		}
		if n := leftovers(context.WithoutCancel(b.Context()), b, s.Session); n > 0 {
			b.Fatalf("%d container(s) of session %s left after the run", n, s.Session)
		}
	}
}

func countSteps(run *report.Run) int {
	n := 0
	for _, s := range run.Suites {
		for _, sc := range s.Scenarios {
			for _, st := range sc.Steps {
				if st.Status == report.Passed {
					n++
				}
			}
		}
	}
	return n
}

// over is the percentage of d that took at least limit.
func over(d durations, limit time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	n := 0
	for _, x := range d {
		if x >= limit {
			n++
		}
	}
	return 100 * float64(n) / float64(len(d))
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func meanOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func maxOf(xs []float64) float64 {
	var m float64
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
)

// The benchmarks time real containers on an engine other people share, so a
// single number means little: every comparison runs both sides in the same
// benchmark, interleaved where the two sides do not disturb each other, and
// reports the ratio. Each b.Loop iteration of the cheap comparisons is a batch
// (testsPerOp tests, execPairs exec pairs) so that one `-benchtime Nx` gives
// enough samples to the cheap and the expensive ones alike. The database
// benchmarks report ns/op per simulated test; the others, whose iterations
// time both sides, suppress ns/op and report named metrics only.

const (
	// testsPerOp is how many simulated tests one iteration of a database
	// benchmark runs.
	testsPerOp = 20
	// warmupTests run before the timer starts, so that the pool benchmarks
	// measure the steady state and not the clones made ahead at start-up.
	warmupTests = 12
	// execPairs is how many cleanroom/raw exec pairs one iteration runs.
	execPairs = 30

	// Images as testcontainers sees them: it knows nothing of cleanroom's
	// image map, so it gets the fixtures the map points to.
	fixturePostgres = "cleanroom-fixtures/postgres:15"
	fixtureRedis    = "cleanroom-fixtures/redis:7"
	fixtureBusybox  = "cleanroom-fixtures/busybox:1"

	// benchLabel marks the containers this process starts through
	// testcontainers, so that a failed benchmark can still remove them.
	benchLabel = "dev.cleanroom.bench"
)

var benchOwner = strconv.Itoa(os.Getpid())

// initSQL is the schema every clean database of the database benchmarks
// starts from; the simulated test body checks that it sees exactly it.
const initSQL = "CREATE TABLE items (id serial PRIMARY KEY, name text)"

// pgSpec is the PostgreSQL service of the database benchmarks. With tmpfs
// (postgres.Spec's default) its data directory is in memory; without, it is
// in the container's writable layer (postgres.WithDiskData), measured to show
// what the default buys.
func pgSpec(name string, tmpfs bool) service.Spec {
	opts := []postgres.Option{postgres.WithInitSQL(initSQL)}
	if !tmpfs {
		opts = append(opts, postgres.WithDiskData())
	}
	return postgres.Spec(name, opts...)
}

// The three services of the Close and Start comparisons, the same for
// cleanroom and testcontainers.
func threeSpecs() []service.Spec {
	return []service.Spec{
		postgres.Spec("db"),
		redis.Spec("cache"),
		generic.Spec("box", "busybox:latest", generic.WithCommand("sleep", "3600")),
	}
}

// ---------------------------------------------------------------------------
// 1. A clean PostgreSQL database per test.

// BenchmarkPostgresCleanDB compares four ways for a test to get a clean
// database holding the init SQL's schema:
//
//   - fresh-container: a new PostgreSQL container per test, started until
//     ready and removed afterwards;
//   - template-clone: a synchronous CREATE DATABASE … TEMPLATE per test, and
//     DROP DATABASE at its end;
//   - pool-realistic: postgres.Cloner as the Go API uses it (Acquire, a test
//     body of a connection and two queries, a synchronous Drop as in the
//     t.Cleanup of cleanroom.Postgres);
//   - pool-back-to-back: the same with no test body, the Cloner's worst case.
//
// wait-ms/db is what a test waits before it can use its database;
// cleanup-ms/db what its cleanup costs (remove the container, drop the
// database); x-faster compares waits with fresh-container's, x-faster-total
// compares wait plus cleanup.
//
// postgres.Spec keeps the data directory in the container's writable layer.
// The tmpfs-* sub-benchmarks (and the tmpfs-* metrics of fresh-container,
// whose iterations start one container of each kind, alternating which goes
// first) show what a data directory on a tmpfs would change; their x-faster
// compare with a fresh container on a tmpfs too.
func BenchmarkPostgresCleanDB(b *testing.B) {
	ctx := b.Context()
	env := newEnv(b)

	var fresh [2]dbStats // disk, tmpfs: set by the first sub-benchmark, compared by the others
	b.Run("fresh-container", func(b *testing.B) {
		var st [2]dbStats
		i := 0
		for b.Loop() {
			i++
			for _, tmpfs := range []bool{i%2 == 0, i%2 == 1} {
				name := fmt.Sprintf("fresh%d-%s", i, storage(tmpfs))
				one := &st[storageIndex(tmpfs)]
				t0 := time.Now()
				if _, err := env.Start(ctx, pgSpec(name, tmpfs)); err != nil {
					b.Fatal(err)
				}
				one.wait = append(one.wait, time.Since(t0))
				// The simulated test body is the same as for the clones, so
				// the fresh container's database is checked to be clean too.
				inst, _ := env.Service(name)
				tb := time.Now()
				if err := testBody(ctx, inst.URL); err != nil {
					b.Fatal(err)
				}
				one.body = append(one.body, time.Since(tb))
				t1 := time.Now()
				if err := env.Release(ctx, name); err != nil {
					b.Fatal(err)
				}
				one.cleanup = append(one.cleanup, time.Since(t1))
			}
		}
		st[0].report(b, dbStats{})
		b.ReportMetric(0, "ns/op") // an op is two tests, one of each storage
		b.ReportMetric(ms(st[1].wait.mean()), "tmpfs-wait-ms/db")
		b.ReportMetric(ms(st[1].cleanup.mean()), "tmpfs-cleanup-ms/db")
		fresh = st
	})
	for _, tmpfs := range []bool{false, true} {
		benchClones(b, env, tmpfs, fresh[storageIndex(tmpfs)])
	}
}

func storage(tmpfs bool) string {
	if tmpfs {
		return "tmpfs"
	}
	return "disk"
}

func storageIndex(tmpfs bool) int {
	if tmpfs {
		return 1
	}
	return 0
}

// benchClones runs the clone sub-benchmarks on one server, started on first
// use and removed when b ends.
func benchClones(b *testing.B, env *cleanroom.Env, tmpfs bool, fresh dbStats) {
	ctx := b.Context()
	prefix := ""
	if tmpfs {
		prefix = "tmpfs-"
	}
	var started *pgServer
	srv := sync.OnceValues(func() (*pgServer, error) {
		s, err := startPGServer(ctx, b, env, tmpfs)
		started = s
		return s, err
	})
	// Removed once its sub-benchmarks are done, so that an idle server does
	// not weigh on what runs next.
	defer func() {
		if started != nil {
			started.release()
		}
	}()

	b.Run(prefix+"template-clone", func(b *testing.B) {
		s, err := srv()
		if err != nil {
			b.Fatal(err)
		}
		var st dbStats
		k := 0
		one := func(record bool) {
			k++
			name := fmt.Sprintf("plain_%d", k)
			t0 := time.Now()
			if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{postgres.DefaultDatabase}.Sanitize()+s.strategy); err != nil {
				b.Fatal(err)
			}
			wait := time.Since(t0)
			if err := testBody(ctx, postgres.WithDatabaseName(s.inst.URL, name)); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := s.admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
				b.Fatal(err)
			}
			if record {
				st.wait = append(st.wait, wait)
				st.body = append(st.body, t1.Sub(t0)-wait)
				st.cleanup = append(st.cleanup, time.Since(t1))
			}
		}
		measureTests(b, one, &st)
		st.report(b, fresh)
	})

	pool := func(body bool) func(b *testing.B) {
		return func(b *testing.B) {
			s, err := srv()
			if err != nil {
				b.Fatal(err)
			}
			cl, err := postgres.NewCloner(ctx, postgres.WithDatabaseName(s.inst.URL, "postgres"), postgres.DefaultDatabase)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := cl.Close(context.WithoutCancel(ctx)); err != nil {
					b.Error(err)
				}
			}()
			var st dbStats
			one := func(record bool) {
				t0 := time.Now()
				name, err := cl.Acquire(ctx)
				if err != nil {
					b.Fatal(err)
				}
				wait := time.Since(t0)
				if body {
					if err := testBody(ctx, postgres.WithDatabaseName(s.inst.URL, name)); err != nil {
						b.Fatal(err)
					}
				}
				// As in the t.Cleanup of cleanroom.Postgres: the drop runs in
				// the background, competing with the clones made ahead.
				t1 := time.Now()
				cl.Release(name)
				if record {
					st.wait = append(st.wait, wait)
					if body {
						st.body = append(st.body, t1.Sub(t0)-wait)
					}
					st.cleanup = append(st.cleanup, time.Since(t1))
				}
			}
			measureTests(b, one, &st)
			st.report(b, fresh)
		}
	}
	b.Run(prefix+"pool-realistic", pool(true))
	b.Run(prefix+"pool-back-to-back", pool(false))
}

// pgServer is the one PostgreSQL server the clone benchmarks share.
type pgServer struct {
	inst     *service.Instance
	admin    *pgxpool.Pool // on the maintenance database "postgres"
	strategy string        // as postgres.Cloner chooses it
	release  func()        // removes the server
}

func startPGServer(ctx context.Context, b *testing.B, env *cleanroom.Env, tmpfs bool) (*pgServer, error) {
	name := "db"
	if tmpfs {
		name = "db-tmpfs"
	}
	insts, err := env.Start(ctx, pgSpec(name, tmpfs))
	if err != nil {
		return nil, err
	}
	inst := insts[0]
	admin, err := pgxpool.New(ctx, postgres.WithDatabaseName(inst.URL, "postgres"))
	if err != nil {
		_ = env.Release(context.WithoutCancel(ctx), name)
		return nil, err
	}
	s := &pgServer{inst: inst, admin: admin}
	s.release = sync.OnceFunc(func() {
		admin.Close()
		if err := env.Release(context.Background(), name); err != nil {
			b.Error(err)
		}
	})
	b.Cleanup(s.release)
	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, err
	}
	if version >= 150000 {
		s.strategy = " STRATEGY FILE_COPY"
	}
	// What NewCloner does: a template accepts no connections, so that a
	// clone never fails because someone is connected to it.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{postgres.DefaultDatabase}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return nil, err
	}
	return s, nil
}

// testBody is a small realistic test: connect to its database, write a row,
// read it back. It fails when the database was not clean.
func testBody(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "INSERT INTO items (name) VALUES ('bench')"); err != nil {
		return err
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("database not clean: %d rows in items, want 1", n)
	}
	return nil
}

type dbStats struct {
	wait, body, cleanup durations
	perTest             time.Duration // wall time of a whole simulated test, when batched
}

// measureTests runs warmupTests unrecorded simulated tests, so the pool is
// measured in its steady state, then testsPerOp recorded ones per
// iteration, and sets st.perTest.
func measureTests(b *testing.B, one func(record bool), st *dbStats) {
	for range warmupTests {
		one(false)
	}
	start := time.Now()
	for b.Loop() {
		for range testsPerOp {
			one(true)
		}
	}
	st.perTest = time.Since(start) / time.Duration(len(st.wait))
}

func (s dbStats) report(b *testing.B, fresh dbStats) {
	if s.perTest > 0 {
		b.ReportMetric(float64(s.perTest.Nanoseconds()), "ns/op")
	}
	b.ReportMetric(ms(s.wait.mean()), "wait-ms/db")
	b.ReportMetric(ms(s.wait.pct(50)), "p50-wait-ms")
	b.ReportMetric(ms(s.wait.pct(95)), "p95-wait-ms")
	b.ReportMetric(ms(s.wait.pct(100)), "max-wait-ms")
	b.ReportMetric(ms(s.cleanup.mean()), "cleanup-ms/db")
	b.ReportMetric(ms(s.cleanup.pct(50)), "p50-cleanup-ms")
	if len(s.body) > 0 {
		b.ReportMetric(ms(s.body.mean()), "body-ms")
	}
	if len(fresh.wait) > 0 {
		b.ReportMetric(ratio(fresh.wait.mean(), s.wait.mean()), "x-faster")
		b.ReportMetric(ratio(fresh.wait.mean()+fresh.cleanup.mean(), s.wait.mean()+s.cleanup.mean()), "x-faster-total")
	}
}

// ---------------------------------------------------------------------------
// 2. Exec round trip.

// BenchmarkExec runs `echo hi` in a running busybox container through
// cleanroom (Container.Exec) and through the engine API directly (the moby
// client's ExecCreate, ExecAttach, ExecInspect), alternating which goes
// first. x-slower is cleanroom's mean over raw's (target ≤ 1.2);
// x-slower-p50 the same for medians, which shared-machine outliers move less.
func BenchmarkExec(b *testing.B) {
	ctx := b.Context()
	env := newEnv(b)
	insts, err := env.Start(ctx, generic.Spec("box", "busybox:latest", generic.WithCommand("sleep", "3600")))
	if err != nil {
		b.Fatal(err)
	}
	c := insts[0].Container
	db, ok := env.Backend().(*docker.Backend)
	if !ok {
		b.Skipf("backend is %s, not docker", env.Backend().Name())
	}
	cli := db.Client()
	cmd := []string{"echo", "hi"}

	var viaCleanroom, viaRaw durations
	var rawRetries int
	cleanroomExec := func(record bool) {
		t0 := time.Now()
		res, err := c.Exec(ctx, backend.ExecSpec{Cmd: cmd})
		d := time.Since(t0)
		if err != nil || res.ExitCode != 0 || string(res.Stdout) != "hi\n" {
			b.Fatalf("cleanroom exec: %v, exit %d, stdout %q", err, res.ExitCode, res.Stdout)
		}
		if record {
			viaCleanroom = append(viaCleanroom, d)
		}
	}
	rawExec := func(record bool) {
		t0 := time.Now()
		code, out, retries, err := rawExecRoundTrip(ctx, cli, c.ID(), cmd)
		d := time.Since(t0)
		if err != nil || code != 0 || out != "hi\n" {
			b.Fatalf("raw exec: %v, exit %d, stdout %q", err, code, out)
		}
		if record {
			viaRaw = append(viaRaw, d)
			rawRetries += retries
		}
	}
	for range 5 {
		cleanroomExec(false)
		rawExec(false)
	}
	i := 0
	for b.Loop() {
		for range execPairs {
			i++
			if i%2 == 0 {
				cleanroomExec(true)
				rawExec(true)
			} else {
				rawExec(true)
				cleanroomExec(true)
			}
		}
	}
	b.ReportMetric(0, "ns/op") // an op is a batch of pairs; the metrics below are per exec
	b.ReportMetric(ms(viaCleanroom.mean()), "cleanroom-ms/exec")
	b.ReportMetric(ms(viaRaw.mean()), "raw-ms/exec")
	b.ReportMetric(ms(viaCleanroom.pct(50)), "cleanroom-p50-ms")
	b.ReportMetric(ms(viaRaw.pct(50)), "raw-p50-ms")
	b.ReportMetric(ratio(viaCleanroom.mean(), viaRaw.mean()), "x-slower")
	b.ReportMetric(ratio(viaCleanroom.pct(50), viaRaw.pct(50)), "x-slower-p50")
	b.ReportMetric(float64(rawRetries)/float64(len(viaRaw)), "raw-inspect-retries/exec")
}

// rawExecRoundTrip is the least a client can do to run a command and learn
// its output and exit code through the engine API.
func rawExecRoundTrip(ctx context.Context, cli *client.Client, id string, cmd []string) (code int, stdout string, retries int, err error) {
	created, err := cli.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return 0, "", 0, err
	}
	att, err := cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return 0, "", 0, err
	}
	defer att.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		return 0, "", 0, err
	}
	for {
		res, err := cli.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
		if err != nil {
			return 0, "", retries, err
		}
		if !res.Running {
			return res.ExitCode, out.String(), retries, nil
		}
		retries++
		time.Sleep(100 * time.Microsecond)
	}
}

// ---------------------------------------------------------------------------
// 3. Removing three services.

// BenchmarkClose removes PostgreSQL, Redis and busybox (`sleep 3600`) two
// ways: Env.Close (forced, parallel removal and the session network), and
// testcontainers' Terminate with its defaults (a graceful `docker stop` with a
// 10 s timeout, then remove), one container after another as three deferred
// Terminate calls run. Both sets are started before the clock runs; which is
// removed first alternates. Target: Close ≤ 1 s.
func BenchmarkClose(b *testing.B) {
	ctx := b.Context()
	tcCleanup(b)
	var closeT, termT durations
	termEach := make([]durations, 3)
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		env := newEnvNow(ctx, b)
		var ctrs []*testcontainers.DockerContainer
		var envErr, tcErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, envErr = env.Start(ctx, threeSpecs()...) })
		wg.Go(func() { ctrs, tcErr = startWithTestcontainers(ctx) })
		wg.Wait()
		if envErr != nil || tcErr != nil {
			_ = env.Close(context.WithoutCancel(ctx))
			for _, c := range ctrs {
				_ = c.Terminate(context.WithoutCancel(ctx), testcontainers.StopTimeout(0))
			}
			b.Fatalf("start: cleanroom: %v; testcontainers: %v", envErr, tcErr)
		}
		b.StartTimer()

		closeEnv := func() {
			t0 := time.Now()
			if err := env.Close(ctx); err != nil {
				b.Fatal(err)
			}
			closeT = append(closeT, time.Since(t0))
		}
		terminate := func() {
			t0 := time.Now()
			for j, c := range ctrs {
				t1 := time.Now()
				if err := c.Terminate(ctx); err != nil {
					b.Fatal(err)
				}
				termEach[j] = append(termEach[j], time.Since(t1))
			}
			termT = append(termT, time.Since(t0))
		}
		if i%2 == 1 {
			closeEnv()
			terminate()
		} else {
			terminate()
			closeEnv()
		}
		b.StopTimer()
		if n := leftovers(ctx, b, env.ID()); n > 0 {
			b.Fatalf("%d container(s) left after Close and Terminate", n)
		}
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op") // an op removes both sets; the metrics below are per set
	b.ReportMetric(ms(closeT.mean()), "close-ms")
	b.ReportMetric(ms(closeT.pct(100)), "close-max-ms")
	b.ReportMetric(ms(termT.mean()), "terminate-ms")
	for j, name := range []string{"postgres", "redis", "busybox"} {
		b.ReportMetric(ms(termEach[j].mean()), "terminate-"+name+"-ms")
	}
	b.ReportMetric(ratio(termT.mean(), closeT.mean()), "x-faster")
}

// startWithTestcontainers starts the same three containers as threeSpecs
// the way a testcontainers user would, and waits for the same readiness
// (PostgreSQL's second "ready" line is the real server's, after init).
func startWithTestcontainers(ctx context.Context) ([]*testcontainers.DockerContainer, error) {
	specs := threeSpecs()
	common := []testcontainers.ContainerCustomizer{
		testcontainers.WithLogger(tclog.NewNoopLogger()),
		testcontainers.WithLabels(map[string]string{benchLabel: benchOwner}),
	}
	type req struct {
		image string
		opts  []testcontainers.ContainerCustomizer
	}
	reqs := []req{
		{fixturePostgres, []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(specs[0].Env),
			// The same in-memory data directory as cleanroom's, so that
			// the comparison is of Close against Terminate alone.
			testcontainers.WithTmpfs(specs[0].Tmpfs),
			testcontainers.WithCmd(specs[0].Command...),
			testcontainers.WithExposedPorts("5432/tcp"),
			testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").WithOccurrence(2)),
		}},
		{fixtureRedis, []testcontainers.ContainerCustomizer{
			testcontainers.WithCmd(specs[1].Command...),
			testcontainers.WithExposedPorts("6379/tcp"),
			testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections")),
		}},
		{fixtureBusybox, []testcontainers.ContainerCustomizer{
			testcontainers.WithCmd(specs[2].Command...),
		}},
	}
	ctrs := make([]*testcontainers.DockerContainer, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			ctrs[i], errs[i] = testcontainers.Run(ctx, r.image, append(slices.Clone(common), r.opts...)...)
		})
	}
	wg.Wait()
	var started []*testcontainers.DockerContainer
	var first error
	for i, c := range ctrs {
		if c != nil {
			started = append(started, c)
		}
		if errs[i] != nil && first == nil {
			first = errs[i]
		}
	}
	return started, first
}

// ---------------------------------------------------------------------------
// 4. Starting three services.

// BenchmarkStart starts PostgreSQL, Redis and busybox until ready, in one
// env.Start call (independent services start in parallel) and in three
// calls one after another, each in a fresh environment, alternating which
// goes first. Creating and closing the environments is not timed.
func BenchmarkStart(b *testing.B) {
	ctx := b.Context()
	var par, seq durations
	seqEach := make([]durations, 3)
	i := 0
	for b.Loop() {
		i++
		parallel := func() {
			b.StopTimer()
			env := newEnvNow(ctx, b)
			b.StartTimer()
			t0 := time.Now()
			if _, err := env.Start(ctx, threeSpecs()...); err != nil {
				b.Fatal(err)
			}
			par = append(par, time.Since(t0))
			b.StopTimer()
			closeEnv(ctx, b, env)
			b.StartTimer()
		}
		sequential := func() {
			b.StopTimer()
			env := newEnvNow(ctx, b)
			b.StartTimer()
			t0 := time.Now()
			for j, sp := range threeSpecs() {
				t1 := time.Now()
				if _, err := env.Start(ctx, sp); err != nil {
					b.Fatal(err)
				}
				seqEach[j] = append(seqEach[j], time.Since(t1))
			}
			seq = append(seq, time.Since(t0))
			b.StopTimer()
			closeEnv(ctx, b, env)
			b.StartTimer()
		}
		if i%2 == 1 {
			parallel()
			sequential()
		} else {
			sequential()
			parallel()
		}
	}
	b.ReportMetric(0, "ns/op") // an op is one start of each kind; the metrics below are per start
	b.ReportMetric(ms(par.mean()), "parallel-ms")
	b.ReportMetric(ms(seq.mean()), "sequential-ms")
	for j, name := range []string{"postgres", "redis", "busybox"} {
		b.ReportMetric(ms(seqEach[j].mean()), "sequential-"+name+"-ms")
	}
	b.ReportMetric(ratio(seq.mean(), par.mean()), "x-faster")
}

// ---------------------------------------------------------------------------
// Helpers.

// newEnv creates an environment removed when b ends.
func newEnv(b *testing.B) *cleanroom.Env {
	b.Helper()
	env := newEnvNow(b.Context(), b)
	b.Cleanup(func() { closeEnv(context.Background(), b, env) })
	return env
}

func newEnvNow(ctx context.Context, b *testing.B) *cleanroom.Env {
	b.Helper()
	env, err := cleanroom.New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// Removed even when the benchmark fails half-way; Close is idempotent.
	b.Cleanup(func() { _ = env.Close(context.Background()) })
	return env
}

func closeEnv(ctx context.Context, b *testing.B, env *cleanroom.Env) {
	b.Helper()
	if err := env.Close(context.WithoutCancel(ctx)); err != nil {
		b.Error(err)
	}
	if n := leftovers(context.WithoutCancel(ctx), b, env.ID()); n > 0 {
		b.Errorf("%d container(s) of session %s left after Close", n, env.ID())
	}
}

// leftovers counts the containers of session id, and those this process
// started through testcontainers.
func leftovers(ctx context.Context, b *testing.B, id string) int {
	b.Helper()
	cli := engine(b)
	n := 0
	for _, f := range []string{backend.LabelSession + "=" + id, benchLabel + "=" + benchOwner} {
		list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", f)})
		if err != nil {
			b.Fatal(err)
		}
		n += len(list.Items)
	}
	return n
}

// tcCleanup removes, when b ends, whatever testcontainers containers this
// process left (a benchmark that failed between start and Terminate).
func tcCleanup(b *testing.B) {
	b.Cleanup(func() {
		ctx := context.Background()
		cli := engine(b)
		list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", benchLabel+"="+benchOwner)})
		if err != nil {
			b.Error(err)
			return
		}
		for _, c := range list.Items {
			if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				b.Error(err)
			}
		}
	})
}

var engine = func() func(b *testing.B) *client.Client {
	var (
		once sync.Once
		cli  *client.Client
		err  error
	)
	return func(b *testing.B) *client.Client {
		once.Do(func() { cli, err = client.New(client.FromEnv, client.WithAPIVersionNegotiation()) })
		if err != nil {
			b.Fatal(err)
		}
		return cli
	}
}()

type durations []time.Duration

func (d durations) mean() time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

// pct is the p-th percentile (nearest rank); pct(100) is the maximum.
func (d durations) pct(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

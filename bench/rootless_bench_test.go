package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/internal/rootlesstest"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
)

// The rootless benchmarks compare the local backend run by root with the
// same backend run by a user that is not root (rootlesstest.User), side by
// side: root's side runs in the benchmark, the user's in a copy of this
// binary started as that user, which does one piece of work per line it
// reads ("exec", "env") and answers with its times. They take turns on
// which goes first. The user's side pays for its user namespaces: a holder
// process per session, a sandbox root put together from per-directory
// overlays, a user namespace per sandbox.

// rootlessChildEnv makes this binary the user's side.
const rootlessChildEnv = "CLEANROOM_BENCH_ROOTLESS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(rootlessChildEnv) == "1" {
		os.Exit(rootlessChild(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// rootlessChild serves the benchmark's requests as the user.
func rootlessChild(in io.Reader, out io.Writer) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "crb")
	if err != nil {
		fmt.Fprintln(out, "err", err)
		return 1
	}
	defer os.RemoveAll(dir)
	lb, err := local.New(local.WithStateDir(dir))
	if err != nil {
		fmt.Fprintln(out, "err", err)
		return 1
	}
	var box backend.Container
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "exec":
			if box == nil {
				env, err := cleanroom.New(ctx, cleanroom.WithBackend(lb), cleanroom.WithPullPolicy(backend.PullNever))
				if err == nil {
					defer env.Close(context.Background())
					var insts []*service.Instance
					if insts, err = env.Start(ctx, boxSpec()); err == nil {
						box = insts[0].Container
					}
				}
				if err != nil {
					fmt.Fprintln(out, "err", err)
					continue
				}
			}
			t0 := time.Now()
			res, err := box.Exec(ctx, backend.ExecSpec{Cmd: []string{"echo", "hi"}})
			d := time.Since(t0)
			if err != nil || string(res.Stdout) != "hi\n" {
				fmt.Fprintln(out, "err exec:", err, strconv.Quote(string(res.Stdout)))
				continue
			}
			fmt.Fprintln(out, "ok", int64(d))
		case "env":
			start, closed, err := envTimes(ctx, lb)
			if err != nil {
				fmt.Fprintln(out, "err", err)
				continue
			}
			fmt.Fprintln(out, "ok", int64(start), int64(closed))
		}
	}
	return 0
}

// envTimes starts PostgreSQL and Redis in a new environment on be and
// closes it, and says how long each took (New counted with the start).
func envTimes(ctx context.Context, be backend.Backend) (start, closed time.Duration, err error) {
	t0 := time.Now()
	env, err := cleanroom.New(ctx, cleanroom.WithBackend(be), cleanroom.WithPullPolicy(backend.PullNever))
	if err != nil {
		return 0, 0, err
	}
	if _, err := env.Start(ctx, []service.Spec{postgres.Spec("db"), redis.Spec("cache")}...); err != nil {
		_ = env.Close(context.Background())
		return 0, 0, err
	}
	start = time.Since(t0)
	t0 = time.Now()
	err = env.Close(ctx)
	return start, time.Since(t0), err
}

// rootlessPair is root's local backend and the user's side.
type rootlessPair struct {
	root *local.Backend
	in   io.Writer
	out  *bufio.Scanner
}

func newRootlessPair(b *testing.B) *rootlessPair {
	b.Helper()
	if testing.Short() {
		b.Skip("starts sandboxes and PostgreSQL servers; not under -short")
	}
	r := rootlesstest.New(b)
	lb := newLocalBackend(b)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := r.Command(ctx, []string{rootlessChildEnv + "=1"})
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close() // the child closes its environment and exits
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	return &rootlessPair{root: lb, in: in, out: bufio.NewScanner(out)}
}

// ask sends one request to the user's side and returns its numbers.
func (p *rootlessPair) ask(b *testing.B, req string) []time.Duration {
	b.Helper()
	fmt.Fprintln(p.in, req)
	if !p.out.Scan() {
		b.Fatalf("rootless side: no answer to %s", req)
	}
	f := strings.Fields(p.out.Text())
	if len(f) == 0 || f[0] != "ok" {
		b.Fatalf("rootless side, %s: %s", req, p.out.Text())
	}
	var ds []time.Duration
	for _, s := range f[1:] {
		n, _ := strconv.ParseInt(s, 10, 64)
		ds = append(ds, time.Duration(n))
	}
	return ds
}

// BenchmarkRootlessExec runs `echo hi` through Container.Exec in a running
// sandbox of root's local backend and of the user's, one exec on each per
// iteration, taking turns on which goes first. root-ms/exec and
// rootless-ms/exec are per exec; x-slower is the user's mean over root's.
func BenchmarkRootlessExec(b *testing.B) {
	ctx := b.Context()
	p := newRootlessPair(b)
	env := newEnvOn(ctx, b, p.root)
	insts, err := env.Start(ctx, boxSpec())
	if err != nil {
		b.Fatal(err)
	}
	box := insts[0].Container
	var root, user durations
	do := func(rootSide, record bool) {
		if !rootSide {
			d := p.ask(b, "exec")[0]
			if record {
				user = append(user, d)
			}
			return
		}
		t0 := time.Now()
		res, err := box.Exec(ctx, backend.ExecSpec{Cmd: []string{"echo", "hi"}})
		d := time.Since(t0)
		if err != nil || string(res.Stdout) != "hi\n" {
			b.Fatalf("root exec: %v, stdout %q", err, res.Stdout)
		}
		if record {
			root = append(root, d)
		}
	}
	for i := range localExecWarmup {
		do(i%2 == 0, false)
		do(i%2 == 1, false)
	}
	i := 0
	for b.Loop() {
		i++
		do(i%2 == 0, true)
		do(i%2 == 1, true)
	}
	b.ReportMetric(0, "ns/op") // an op is one exec on each side
	b.ReportMetric(ms(root.mean()), "root-ms/exec")
	b.ReportMetric(ms(user.mean()), "rootless-ms/exec")
	b.ReportMetric(ms(root.pct(50)), "root-p50-ms")
	b.ReportMetric(ms(user.pct(50)), "rootless-p50-ms")
	b.ReportMetric(ms(user.pct(95)), "rootless-p95-ms")
	b.ReportMetric(ratio(user.mean(), root.mean()), "x-slower")
}

// BenchmarkRootlessEnv starts an environment of PostgreSQL and Redis
// until both are ready, and closes it, on root's local backend and the
// user's, taking turns on which goes first. <side>-start-ms counts
// cleanroom.New and Start, <side>-close-ms the Close; x-slower-* are the
// user's over root's.
func BenchmarkRootlessEnv(b *testing.B) {
	ctx := b.Context()
	p := newRootlessPair(b)
	var rootStart, rootClose, userStart, userClose durations
	do := func(rootSide bool) {
		if !rootSide {
			ds := p.ask(b, "env")
			userStart, userClose = append(userStart, ds[0]), append(userClose, ds[1])
			return
		}
		s, c, err := envTimes(ctx, p.root)
		if err != nil {
			b.Fatalf("root: %v", err)
		}
		rootStart, rootClose = append(rootStart, s), append(rootClose, c)
	}
	i := 0
	for b.Loop() {
		i++
		do(i%2 == 0)
		do(i%2 == 1)
	}
	b.ReportMetric(0, "ns/op") // an op is an environment on each side
	b.ReportMetric(ms(rootStart.mean()), "root-start-ms")
	b.ReportMetric(ms(userStart.mean()), "rootless-start-ms")
	b.ReportMetric(ms(rootClose.mean()), "root-close-ms")
	b.ReportMetric(ms(userClose.mean()), "rootless-close-ms")
	b.ReportMetric(ratio(userStart.mean(), rootStart.mean()), "x-slower-start")
	b.ReportMetric(ratio(userClose.mean(), rootClose.mean()), "x-slower-close")
}

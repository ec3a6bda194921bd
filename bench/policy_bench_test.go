package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/service/redis"
)

// BenchmarkStepSampling: what resource monitoring costs a step. The runner
// samples the step's container when the step starts and when it ends (and
// every 200 ms between); this times exec steps with and without that, side
// by side on one container.
func BenchmarkStepSampling(b *testing.B) {
	requireHostOverride(b)
	ctx := context.Background()
	env := newEnv(b)
	insts, err := env.Start(ctx, generic.Spec("box", "busybox:latest", generic.WithCommand("sleep", "3600")))
	if err != nil {
		b.Fatal(err)
	}
	c := insts[0].Container
	exec := func() {
		res, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"true"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("exec: %v (exit %d)", err, res.ExitCode)
		}
	}
	var plain, sampled durations
	for b.Loop() {
		for range execPairs {
			t0 := time.Now()
			exec()
			plain = append(plain, time.Since(t0))

			t0 = time.Now()
			s, err := backend.StartSampler(ctx, c, backend.DefaultSampleInterval)
			if err != nil {
				b.Fatal(err)
			}
			exec()
			if u := s.Stop(ctx); u.Samples < 2 {
				b.Fatalf("%d samples, want one at each end", u.Samples)
			}
			sampled = append(sampled, time.Since(t0))
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(plain.mean()), "exec-ms")
	b.ReportMetric(ms(sampled.mean()), "exec+sampling-ms")
	b.ReportMetric(ms(sampled.mean()-plain.mean()), "sampling-ms")
	b.ReportMetric(ratio(sampled.mean(), plain.mean()), "sampled/plain")
}

// BenchmarkIsolatedEndpoint: under the default policy the runner reaches a
// service at its address on the session's internal network; under
// "bridge" through a port the engine publishes (its userland proxy here).
// One Redis PING round trip each way, interleaved, on two servers of one
// environment.
func BenchmarkIsolatedEndpoint(b *testing.B) {
	requireHostOverride(b)
	ctx := context.Background()
	env := newEnv(b)
	isolated := redis.Spec("isolated")
	bridged := redis.Spec("bridged")
	bridged.Policy, _ = policy.Preset(policy.Standard)
	bridged.Policy.Network = policy.Bridge
	insts, err := env.Start(ctx, isolated, bridged)
	if err != nil {
		b.Fatal(err)
	}
	client := func(host string, port int) *goredis.Client {
		cl := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", host, port), PoolSize: 1})
		b.Cleanup(func() { _ = cl.Close() })
		if err := cl.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		return cl
	}
	direct, published := client(insts[0].Host, insts[0].Port), client(insts[1].Host, insts[1].Port)
	b.Logf("isolated at %s:%d, bridge at %s:%d", insts[0].Host, insts[0].Port, insts[1].Host, insts[1].Port)
	var d, p durations
	for b.Loop() {
		for range 200 {
			t0 := time.Now()
			if err := direct.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
			t0 = time.Now()
			if err := published.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			p = append(p, time.Since(t0))
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(d.pct(50))/float64(time.Microsecond), "isolated-p50-us")
	b.ReportMetric(float64(p.pct(50))/float64(time.Microsecond), "published-p50-us")
	b.ReportMetric(ratio(p.pct(50), d.pct(50)), "published/isolated")
}

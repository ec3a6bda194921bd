package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/suite"
	"github.com/cleanroomhq/cleanroom/telemetry"
)

// BenchmarkTracingOverhead: what recording the run as a trace costs a
// 200-step suite. Each iteration runs the same suite (one Redis server,
// 20 scenarios of 10 PINGs: cheap steps, so that the tracing's share is as
// large as it gets) twice, interleaved: without a tracer, and with the
// trace written to an OTLP JSON file, as every `cleanroom run` does. The
// target is at most 5 % (issue 6).
func BenchmarkTracingOverhead(b *testing.B) {
	requireHostOverride(b)
	var sb strings.Builder
	sb.WriteString("name = \"traced\"\n[services.cache]\ntype = \"redis\"\n")
	for i := range 20 {
		fmt.Fprintf(&sb, "[[scenario]]\nname = \"s%d\"\n", i)
		for j := range 10 {
			fmt.Fprintf(&sb, "[[scenario.step]]\nname = \"ping %d\"\nservice = \"cache\"\nredis = [\"PING\"]\nexpect = { reply = \"PONG\" }\n", j)
		}
	}
	s, err := suite.Load(writeSuite(b, "traced", sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// The suite's environment start is the same either way; what differs
	// is the time its steps take.
	stepsTime := func(opts runner.Options) time.Duration {
		run := runner.Run(ctx, []*suite.Suite{s}, opts)
		mustPassRun(b, run)
		var total time.Duration
		for _, sc := range run.Suites[0].Scenarios {
			total += time.Duration((sc.DurationMS - sc.ResetMS) * float64(time.Millisecond))
		}
		return total
	}
	var plain, traced time.Duration
	for b.Loop() {
		plain += stepsTime(runner.Options{})
		tp, err := telemetry.NewProvider(ctx, telemetry.Config{TraceFile: filepath.Join(b.TempDir(), "trace.jsonl")})
		if err != nil {
			b.Fatal(err)
		}
		traced += stepsTime(runner.Options{Tracer: tp.Tracer()})
		if err := tp.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
	}
	n := time.Duration(b.N * 200)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(plain/n)/float64(time.Microsecond), "plain-us/step")
	b.ReportMetric(float64(traced/n)/float64(time.Microsecond), "traced-us/step")
	b.ReportMetric((float64(traced)/float64(plain)-1)*100, "overhead-%")
}

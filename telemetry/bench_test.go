package telemetry_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanroomhq/cleanroom/telemetry"
)

// stepAttrs is what the runner puts on a step span.
var stepAttrs = trace.WithAttributes(
	attribute.String("cleanroom.step.kind", "exec"),
	attribute.String("cleanroom.step.service", "db"),
	attribute.Int("cleanroom.step.exit_code", 0),
)

func benchmarkSpans(b *testing.B, cfg telemetry.Config) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		b.Setenv(name, "")
		os.Unsetenv(name)
	}
	ctx := context.Background()
	p, err := telemetry.NewProvider(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	tracer := p.Tracer()
	b.ReportAllocs()
	for b.Loop() {
		_, span := tracer.Start(ctx, "step", stepAttrs)
		span.End()
	}
	// Counted in: a span costs nothing until it is in the file.
	if err := p.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNoopSpan is the cost of tracing when nothing is configured.
func BenchmarkNoopSpan(b *testing.B) {
	benchmarkSpans(b, telemetry.Config{})
}

// BenchmarkFileExporterSpan is the cost of a span written to a trace file.
func BenchmarkFileExporterSpan(b *testing.B) {
	benchmarkSpans(b, telemetry.Config{TraceFile: filepath.Join(b.TempDir(), "trace.jsonl")})
}

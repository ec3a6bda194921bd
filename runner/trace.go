package runner

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

// The run is one trace: run → suite → service start, scenario → step.
// Every exec'd command and every service container gets TRACEPARENT (and
// http steps send the traceparent header), so an application instrumented
// with OpenTelemetry puts its own spans under the step or suite that
// caused them.

// tracer is Options.Tracer, or one that records nothing.
func (o Options) tracer() trace.Tracer {
	if o.Tracer != nil {
		return o.Tracer
	}
	return noop.NewTracerProvider().Tracer("")
}

var propagator = propagation.TraceContext{}

// traceEnv adds the W3C trace context of ctx's span to a container's or
// command's environment: TRACEPARENT (and TRACESTATE), the variables
// OpenTelemetry SDKs read at start.
func traceEnv(ctx context.Context, env map[string]string) map[string]string {
	carrier := propagation.MapCarrier{}
	propagator.Inject(ctx, carrier)
	if tp := carrier.Get("traceparent"); tp != "" {
		env["TRACEPARENT"] = tp
		if ts := carrier.Get("tracestate"); ts != "" {
			env["TRACESTATE"] = ts
		}
	}
	return env
}

// traceHeader adds the traceparent header of ctx's span to a request.
func traceHeader(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// endStep finishes a step's span with what the step did; redact keeps
// secrets out of the failure it records.
func endStep(span trace.Span, st *report.Step, redact func(string) string) {
	attrs := []attribute.KeyValue{
		attribute.String("cleanroom.step.status", string(st.Status)),
		attribute.Int("cleanroom.step.attempts", st.Attempts),
	}
	if o := st.Output; o != nil {
		if o.ExitCode != nil {
			attrs = append(attrs, attribute.Int("process.exit.code", *o.ExitCode))
		}
		if o.Status != 0 {
			attrs = append(attrs, attribute.Int("http.response.status_code", o.Status))
		}
	}
	span.SetAttributes(attrs...)
	endWithStatus(span, st.Status, redact(firstFailure(st)))
}

func firstFailure(st *report.Step) string {
	if st.Error != "" {
		return firstLine(st.Error)
	}
	if len(st.Failures) > 0 {
		f := st.Failures[0]
		return f.Check + ": expected " + f.Expected + ", got " + f.Got
	}
	return ""
}

// endWithStatus ends a span as passed (ok), skipped (unset) or failed or
// errored (error, with the reason recorded).
func endWithStatus(span trace.Span, status report.Status, reason string) {
	switch status {
	case report.Passed:
		span.SetStatus(codes.Ok, "")
	case report.Failed, report.Errored:
		span.SetStatus(codes.Error, reason)
		if reason != "" {
			span.AddEvent("exception", trace.WithAttributes(
				attribute.String("exception.type", string(status)),
				attribute.String("exception.message", reason)))
		}
	}
	span.End()
}

// serviceSpan records a started service: the span covers the start and the
// readiness check, which happened before the runner had the instance.
func serviceSpan(ctx context.Context, t trace.Tracer, decl *suite.Service, r *running) {
	start := r.inst.StartedAt
	_, span := t.Start(ctx, "service "+decl.Name, trace.WithTimestamp(start), trace.WithAttributes(
		attribute.String("cleanroom.service.name", decl.Name),
		attribute.String("cleanroom.service.kind", decl.Kind.Value),
		attribute.String("container.image.name", r.inst.Image),
		attribute.String("container.id", r.inst.Container.ID()),
		attribute.Float64("cleanroom.service.ready_ms", ms(r.inst.ReadyAfter)),
	))
	if r.rep.ImageID != "" {
		span.SetAttributes(attribute.String("container.image.id", r.rep.ImageID))
	}
	span.SetStatus(codes.Ok, "")
	span.End(trace.WithTimestamp(start.Add(r.inst.ReadyAfter)))
}

func stepSpanStart(ctx context.Context, t trace.Tracer, st *suite.Step, rep *report.Step) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String("cleanroom.step.kind", string(st.Kind)),
		attribute.String("cleanroom.step.pos", rep.Pos),
		attribute.Int64("cleanroom.seed", rep.Seed),
	}
	if rep.Service != "" {
		attrs = append(attrs, attribute.String("cleanroom.service.name", rep.Service))
	}
	return t.Start(ctx, "step "+st.Name.Value, trace.WithAttributes(attrs...), trace.WithTimestamp(time.Now()))
}

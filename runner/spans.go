package runner

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
	"github.com/cleanroomhq/cleanroom/telemetry"
)

// Each environment gets an OTLP/HTTP receiver where its containers can
// connect (Env.Listen: this machine's address on the environment's
// network, or inside the local backend's network namespace). Services and commands are told to export to
// it (OTEL_EXPORTER_OTLP_ENDPOINT, unless their env says otherwise), and a
// step's expect.spans is checked against what arrived while it ran.

// startReceiver starts the environment's receiver. An environment whose
// backend cannot say how containers reach this machine has none; a step
// that expects spans then fails saying so.
func (sr *suiteRun) startReceiver(ctx context.Context) {
	ln, err := sr.env.Listen(ctx)
	if err != nil {
		sr.recvErr = fmt.Errorf("telemetry: receiver: %w", err)
		return
	}
	sr.recv = telemetry.Serve(ln)
}

// otelEnv points a container or command at the receiver.
func (sr *suiteRun) otelEnv(env map[string]string, serviceName string) map[string]string {
	if sr.recv == nil {
		return env
	}
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	set("OTEL_EXPORTER_OTLP_ENDPOINT", sr.recv.Endpoint())
	set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	// SDKs batch for 5 s by default; a step's span assertions wait 2 s.
	set("OTEL_BSP_SCHEDULE_DELAY", "100")
	if serviceName != "" {
		set("OTEL_SERVICE_NAME", serviceName)
	}
	return env
}

// spanWait is how long a step's span expectations wait for spans to
// arrive: exporters batch, and a span sent at the end of a request may
// arrive after the response.
const spanWait = 2 * time.Second

// checkSpans checks a step's expect.spans against the spans that started
// since the step did, waiting up to spanWait for them to hold.
func (sr *suiteRun) checkSpans(ctx context.Context, st *suite.Step, since time.Time, data map[string]any) []*report.Failure {
	checks := st.Expect.Spans
	if len(checks) == 0 {
		return nil
	}
	if sr.recv == nil {
		return []*report.Failure{{Check: "spans", Pos: checks[0].Pos.String(),
			Expected: "spans from the environment's receiver", Got: fmt.Sprintf("no receiver: %v", sr.recvErr)}}
	}
	deadline := time.Now().Add(spanWait)
	for {
		spans := sr.recv.SpansSince(since)
		var fails []*report.Failure
		for i, c := range checks {
			if f := checkSpan(c, spans, data); f != nil {
				f.Check = fmt.Sprintf("spans[%d]", i)
				fails = append(fails, f)
			}
		}
		if len(fails) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return fails
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSpan checks one expectation against the spans of the step.
func checkSpan(c *suite.SpanCheck, spans []telemetry.Span, data map[string]any) *report.Failure {
	byID := map[string]telemetry.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	fail := func(format string, args ...any) *report.Failure {
		return &report.Failure{Pos: c.Pos.String(), Expected: describe(c), Got: fmt.Sprintf(format, args...)}
	}
	named := filterSpans(spans, func(s telemetry.Span) bool { return s.Name == c.Name.Value })
	if c.Count.IsSet() && c.Count.Value == 0 && len(c.Attributes) == 0 && !c.Status.IsSet() && !c.Parent.IsSet() {
		// count = 0: the span must not happen at all.
		if len(named) > 0 {
			return fail("%d span(s) named %q", len(named), c.Name.Value)
		}
		return nil
	}
	if len(named) == 0 {
		return fail("no span named %q among %s", c.Name.Value, spanNames(spans))
	}
	for _, key := range c.NoAttributes {
		for _, s := range named {
			if _, ok := s.Attributes[key]; ok {
				return fail("span %q has attribute %s", s.Name, key)
			}
		}
	}
	match := named
	for key, want := range c.Attributes {
		w, err := suite.RenderLiteral(want.Value, data)
		if err != nil {
			return fail("%v", err)
		}
		match = filterSpans(match, func(s telemetry.Span) bool { return sameValue(w, s.Attributes[key]) })
		if len(match) == 0 {
			return fail("no span %q has %s = %v; they have %s", c.Name.Value, key, w, attrValues(named, key))
		}
	}
	if c.Status.IsSet() {
		match = filterSpans(match, func(s telemetry.Span) bool { return s.Status == c.Status.Value })
		if len(match) == 0 {
			return fail("spans %q have status %s", c.Name.Value, strings.Join(mapSpans(named, func(s telemetry.Span) string { return s.Status }), ", "))
		}
	}
	if c.Parent.IsSet() {
		match = filterSpans(match, func(s telemetry.Span) bool { return byID[s.ParentSpanID].Name == c.Parent.Value })
		if len(match) == 0 {
			return fail("spans %q have parents %s", c.Name.Value, strings.Join(mapSpans(named, func(s telemetry.Span) string {
				if p, ok := byID[s.ParentSpanID]; ok {
					return fmt.Sprintf("%q", p.Name)
				}
				return "(none received)"
			}), ", "))
		}
	}
	if c.Count.IsSet() && len(match) != c.Count.Value {
		return fail("%d matching span(s)", len(match))
	}
	if c.Before.IsSet() {
		others := filterSpans(spans, func(s telemetry.Span) bool { return s.Name == c.Before.Value })
		if !slices.ContainsFunc(others, func(o telemetry.Span) bool {
			return !slices.ContainsFunc(match, func(m telemetry.Span) bool { return m.End.After(o.Start) })
		}) {
			return fail("no span %q starts after every matching span ended", c.Before.Value)
		}
	}
	if c.After.IsSet() {
		others := filterSpans(spans, func(s telemetry.Span) bool { return s.Name == c.After.Value })
		if !slices.ContainsFunc(others, func(o telemetry.Span) bool {
			return !slices.ContainsFunc(match, func(m telemetry.Span) bool { return m.Start.Before(o.End) })
		}) {
			return fail("no span %q ended before every matching span started", c.After.Value)
		}
	}
	return nil
}

// sameValue compares an expected literal with an attribute value: numbers
// by value (TOML integers are int64, OTLP's ints too, but a double may hold
// an integral value), the rest exactly.
func sameValue(want, got any) bool {
	if a, ok := number(want); ok {
		b, ok := number(got)
		return ok && a == b
	}
	return reflect.DeepEqual(want, got)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n)
	}
	return 0, false
}

func describe(c *suite.SpanCheck) string {
	parts := []string{fmt.Sprintf("span %q", c.Name.Value)}
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		parts = append(parts, fmt.Sprintf("%s = %v", k, c.Attributes[k].Value))
	}
	if c.Parent.IsSet() {
		parts = append(parts, "parent "+c.Parent.Value)
	}
	if c.Status.IsSet() {
		parts = append(parts, "status "+c.Status.Value)
	}
	if c.Count.IsSet() {
		parts = append(parts, fmt.Sprintf("count %d", c.Count.Value))
	}
	if c.Before.IsSet() {
		parts = append(parts, "before "+c.Before.Value)
	}
	if c.After.IsSet() {
		parts = append(parts, "after "+c.After.Value)
	}
	if len(c.NoAttributes) > 0 {
		parts = append(parts, "without "+strings.Join(c.NoAttributes, ", "))
	}
	return strings.Join(parts, ", ")
}

func filterSpans(spans []telemetry.Span, keep func(telemetry.Span) bool) []telemetry.Span {
	var out []telemetry.Span
	for _, s := range spans {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func mapSpans(spans []telemetry.Span, f func(telemetry.Span) string) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = f(s)
	}
	return out
}

func spanNames(spans []telemetry.Span) string {
	if len(spans) == 0 {
		return "no spans at all"
	}
	names := mapSpans(spans, func(s telemetry.Span) string { return fmt.Sprintf("%q", s.Name) })
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

func attrValues(spans []telemetry.Span, key string) string {
	return strings.Join(mapSpans(spans, func(s telemetry.Span) string {
		if v, ok := s.Attributes[key]; ok {
			return fmt.Sprint(v)
		}
		return "(none)"
	}), ", ")
}

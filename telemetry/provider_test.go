package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanroomhq/cleanroom/telemetry"
)

// unsetOTelEnv clears the variables the exporter reads, so that the
// developer's or CI's own settings cannot change a test; the test's end
// restores them.
func unsetOTelEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
		"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER",
	} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
}

func newReceiver(t testing.TB) *telemetry.Receiver {
	t.Helper()
	r, err := telemetry.NewReceiver("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// wire is what a request looked like on its way to the receiver.
type wire struct{ contentType, encoding string }

// recordingProxy forwards to target and records each request's encoding, to
// prove which wire format a round trip actually used.
func recordingProxy(t *testing.T, target string) (*httptest.Server, func() []wire) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []wire
	)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, wire{req.Header.Get("Content-Type"), req.Header.Get("Content-Encoding")})
		mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []wire {
		mu.Lock()
		defer mu.Unlock()
		return append([]wire(nil), seen...)
	}
}

// emitTree makes run → suite → step, with one attribute of each type on run
// and an event and an error on step, and returns their span contexts.
func emitTree(ctx context.Context, tracer trace.Tracer) (run, suite, step trace.SpanContext) {
	ctx, runSpan := tracer.Start(ctx, "run", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("s", "text"),
		attribute.Int64("i", -42),
		attribute.Float64("f", 2.5),
		attribute.Bool("b", true),
		attribute.StringSlice("ss", []string{"a", "b"}),
		attribute.Int64Slice("is", []int64{1, 2}),
		attribute.Float64Slice("fs", []float64{0.5}),
		attribute.BoolSlice("bs", []bool{true, false}),
	))
	ctx, suiteSpan := tracer.Start(ctx, "suite")
	_, stepSpan := tracer.Start(ctx, "step", trace.WithSpanKind(trace.SpanKindClient))
	stepSpan.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	stepSpan.SetStatus(codes.Error, "exit code 3")
	stepSpan.End()
	suiteSpan.SetStatus(codes.Ok, "")
	suiteSpan.End()
	runSpan.End()
	return runSpan.SpanContext(), suiteSpan.SpanContext(), stepSpan.SpanContext()
}

func TestRoundTripToReceiver(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want wire
	}{
		{"protobuf", nil, wire{"application/x-protobuf", ""}},
		{"protobuf gzip", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip"}, wire{"application/x-protobuf", "gzip"}},
		{"json", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, wire{"application/json", ""}},
		{"json gzip", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, wire{"application/json", "gzip"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			unsetOTelEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := newReceiver(t)
			proxy, seen := recordingProxy(t, r.Endpoint())

			ctx := context.Background()
			p, err := telemetry.NewProvider(ctx, telemetry.Config{Endpoint: proxy.URL, ServiceName: "cleanroom-test", Version: "v0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			run, suite, step := emitTree(ctx, p.Tracer())
			if err := p.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			if got := seen(); len(got) == 0 || got[0] != tt.want {
				t.Errorf("requests %+v, want %+v", got, tt.want)
			}
			spans := byName(t, r.Spans())
			if len(spans) != 3 {
				t.Fatalf("got %d spans, want 3: %+v", len(spans), spans)
			}
			checkSpan(t, spans["run"], telemetry.Span{
				TraceID: run.TraceID().String(), SpanID: run.SpanID().String(),
				Name: "run", Kind: "server", Status: "unset", Service: "cleanroom-test",
				Attributes: map[string]any{
					"s": "text", "i": int64(-42), "f": 2.5, "b": true,
					"ss": []any{"a", "b"}, "is": []any{int64(1), int64(2)},
					"fs": []any{0.5}, "bs": []any{true, false},
				},
			})
			checkSpan(t, spans["suite"], telemetry.Span{
				TraceID: run.TraceID().String(), SpanID: suite.SpanID().String(), ParentSpanID: run.SpanID().String(),
				Name: "suite", Kind: "internal", Status: "ok", Service: "cleanroom-test", Attributes: map[string]any{},
			})
			checkSpan(t, spans["step"], telemetry.Span{
				TraceID: run.TraceID().String(), SpanID: step.SpanID().String(), ParentSpanID: suite.SpanID().String(),
				Name: "step", Kind: "client", Status: "error", StatusMessage: "exit code 3", Service: "cleanroom-test",
				Attributes: map[string]any{},
				Events:     []telemetry.Event{{Name: "retry", Attributes: map[string]any{"attempt": int64(2)}}},
			})
		})
	}
}

func byName(t *testing.T, spans []telemetry.Span) map[string]telemetry.Span {
	t.Helper()
	m := map[string]telemetry.Span{}
	for _, s := range spans {
		if _, dup := m[s.Name]; dup {
			t.Errorf("span %q received twice", s.Name)
		}
		m[s.Name] = s
	}
	return m
}

// checkSpan compares everything but times, which it only checks for sense.
func checkSpan(t *testing.T, got, want telemetry.Span) {
	t.Helper()
	if got.Start.IsZero() || got.End.Before(got.Start) {
		t.Errorf("span %q: start %v, end %v", got.Name, got.Start, got.End)
	}
	for i := range got.Events {
		if got.Events[i].Time.Before(got.Start) || got.Events[i].Time.After(got.End) {
			t.Errorf("span %q: event %q at %v, outside the span", got.Name, got.Events[i].Name, got.Events[i].Time)
		}
		got.Events[i].Time = time.Time{}
	}
	got.Start, got.End = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("span %q:\n got: %#v\nwant: %#v", want.Name, got, want)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	unsetOTelEnv(t)
	r := newReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.Endpoint())
	t.Setenv("OTEL_SERVICE_NAME", "from-env")

	ctx := context.Background()
	p, err := telemetry.NewProvider(ctx, telemetry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(ctx, "hello")
	span.End()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.Spans()
	if len(got) != 1 || got[0].Name != "hello" || got[0].Service != "from-env" {
		t.Errorf("got %+v, want one span \"hello\" of service \"from-env\"", got)
	}
}

// An explicit endpoint wins over the environment's, while the environment's
// other settings, such as headers, still apply.
func TestExplicitEndpointWinsOverEnvironment(t *testing.T) {
	unsetOTelEnv(t)
	fromEnv, explicit := newReceiver(t), newReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", fromEnv.Endpoint()+"/v1/traces")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-cleanroom-token=abc")

	var (
		mu      sync.Mutex
		headers []string
	)
	target, _ := url.Parse(explicit.Endpoint())
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		headers = append(headers, req.Header.Get("X-Cleanroom-Token"))
		mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	defer srv.Close()

	ctx := context.Background()
	p, err := telemetry.NewProvider(ctx, telemetry.Config{Endpoint: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(ctx, "hello")
	span.End()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(fromEnv.Spans()); n != 0 {
		t.Errorf("the environment's endpoint got %d spans, want 0", n)
	}
	if got := explicit.Spans(); len(got) != 1 || got[0].Service != "cleanroom" {
		t.Errorf("the explicit endpoint got %+v, want one span of service \"cleanroom\"", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(headers) == 0 || headers[0] != "abc" {
		t.Errorf("x-cleanroom-token headers %q, want \"abc\" from OTEL_EXPORTER_OTLP_HEADERS", headers)
	}
}

func TestNoopProvider(t *testing.T) {
	unsetOTelEnv(t)
	ctx := context.Background()
	p, err := telemetry.NewProvider(ctx, telemetry.Config{ServiceName: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var nilProvider *telemetry.Provider
	for name, p := range map[string]*telemetry.Provider{"empty config": p, "nil": nilProvider} {
		_, span := p.Tracer().Start(ctx, "nothing")
		if span.IsRecording() || span.SpanContext().IsValid() {
			t.Errorf("%s: span records or has a context: %+v", name, span.SpanContext())
		}
		span.End()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("%s: Shutdown: %v", name, err)
		}
	}
}

func TestNewProviderErrors(t *testing.T) {
	unsetOTelEnv(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		cfg  telemetry.Config
		want string
	}{
		{"endpoint without scheme", telemetry.Config{Endpoint: "127.0.0.1:4318"}, "want a URL like http://host:4318"},
		{"endpoint with other scheme", telemetry.Config{Endpoint: "grpc://127.0.0.1:4317"}, "want a URL like http://host:4318"},
		{"trace file in missing dir", telemetry.Config{TraceFile: filepath.Join(dir, "no", "such", "dir", "t.json")}, "telemetry: trace file:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := telemetry.NewProvider(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
			if p != nil {
				t.Errorf("got a provider with the error")
			}
		})
	}
}

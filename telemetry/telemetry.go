// Package telemetry is cleanroom's OpenTelemetry tracing: a Provider that
// exports the run's own spans over OTLP/HTTP and to a trace file, and a
// Receiver that collects the spans the services under test emit, so that a
// step can assert on them.
//
// The trace file holds OTLP/JSON, one ExportTraceServiceRequest per line: the
// format the OpenTelemetry Collector's otlpjsonfile receiver and Jaeger's OTLP
// import read.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracerName is the instrumentation scope of every span cleanroom makes.
const tracerName = "github.com/cleanroomhq/cleanroom"

// tracesPath is where OTLP/HTTP sends spans, relative to a base endpoint.
const tracesPath = "/v1/traces"

// Config says where a Provider sends spans. The zero Config sends them
// nowhere, unless the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable is set.
type Config struct {
	// Endpoint is an OTLP/HTTP base URL such as "http://127.0.0.1:4318";
	// "/v1/traces" is appended unless the path already ends with it. It wins
	// over the OTEL_EXPORTER_OTLP_*ENDPOINT variables, while the other
	// OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression,
	// protocol, certificates) still apply.
	Endpoint string
	// TraceFile, if set, is created (or truncated) and receives every span
	// as OTLP/JSON lines.
	TraceFile string
	// ServiceName is the resource's service.name. Empty means
	// OTEL_SERVICE_NAME if set, otherwise "cleanroom".
	ServiceName string
	// Version is the resource's service.version and the tracer's
	// instrumentation version.
	Version string
}

// Provider makes cleanroom's spans and hands them to the configured
// exporters. A Provider with nothing to export to, including a nil
// *Provider, is a no-op: its tracer records nothing and costs next to
// nothing, so callers trace unconditionally.
type Provider struct {
	tp     *sdktrace.TracerProvider // nil when there is nothing to export to
	tracer trace.Tracer
	file   *os.File // the trace file, owned by the Provider

	closeOnce sync.Once
	closeErr  error
}

// NewProvider builds the exporters cfg asks for. It does not connect to the
// endpoint: an unreachable collector shows up as export errors, not here.
func NewProvider(ctx context.Context, cfg Config) (*Provider, error) {
	useEndpoint := cfg.Endpoint != "" || endpointFromEnv()
	if !useEndpoint && cfg.TraceFile == "" {
		return &Provider{tracer: noop.NewTracerProvider().Tracer(tracerName)}, nil
	}

	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}

	var httpOpts []otlptracehttp.Option
	if cfg.Endpoint != "" {
		u, err := tracesURL(cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		httpOpts = append(httpOpts, otlptracehttp.WithEndpointURL(u))
	}

	var file *os.File
	if cfg.TraceFile != "" {
		file, err = os.Create(cfg.TraceFile)
		if err != nil {
			return nil, fmt.Errorf("telemetry: trace file: %w", err)
		}
		// Blocking, so that a burst of spans waits for the file instead of
		// being dropped: the file is the run's record.
		opts = append(opts, sdktrace.WithBatcher(NewFileExporter(file), sdktrace.WithBlocking()))
	}
	if useEndpoint {
		exp, err := otlptracehttp.New(ctx, httpOpts...)
		if err != nil {
			if file != nil {
				err = errors.Join(err, file.Close())
			}
			return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}

	tp := sdktrace.NewTracerProvider(opts...)
	return &Provider{
		tp:     tp,
		tracer: tp.Tracer(tracerName, trace.WithInstrumentationVersion(cfg.Version)),
		file:   file,
	}, nil
}

// Tracer returns the tracer for cleanroom's spans.
func (p *Provider) Tracer() trace.Tracer {
	if p == nil || p.tracer == nil {
		return noop.NewTracerProvider().Tracer(tracerName)
	}
	return p.tracer
}

// Shutdown exports every span that has ended, waits for the exporters to
// finish, and closes the trace file. Spans ended afterwards are dropped.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil || p.tp == nil {
		return nil
	}
	err := p.tp.Shutdown(ctx)
	if p.file != nil {
		p.closeOnce.Do(func() { p.closeErr = p.file.Close() })
		err = errors.Join(err, p.closeErr)
	}
	if err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}

// endpointFromEnv reports whether the standard variables name an endpoint;
// the exporter reads them itself.
func endpointFromEnv() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// tracesURL turns a base endpoint into the URL spans are posted to, the way
// OTEL_EXPORTER_OTLP_ENDPOINT is treated, but also accepts the full URL.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("telemetry: endpoint %q: want a URL like http://host:4318", endpoint)
	}
	if !strings.HasSuffix(u.Path, tracesPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + tracesPath
	}
	return u.String(), nil
}

// newResource describes cleanroom as the service emitting the spans. Later
// detectors win, so the precedence is: cfg, then OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES, then the default name.
func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	var explicit []attribute.KeyValue
	if cfg.ServiceName != "" {
		explicit = append(explicit, attribute.String("service.name", cfg.ServiceName))
	}
	if cfg.Version != "" {
		explicit = append(explicit, attribute.String("service.version", cfg.Version))
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "cleanroom")),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(explicit...),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	return res, nil
}

package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cleanroomhq/cleanroom/telemetry"
)

var lowerHex = regexp.MustCompile(`^[0-9a-f]+$`)

// parseLine decodes one line of the trace file the way a reader of OTLP/JSON
// does, independently of the package: it checks every ID is hex of the right
// length, turns it into the base64 protojson expects, and then parses the
// line strictly (unknown field names fail) into the proto type.
func parseLine(t *testing.T, line []byte) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	var doc any
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	hexToBase64(t, doc)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := protojson.Unmarshal(b, &req); err != nil {
		t.Fatalf("protojson: %v\n%s", err, line)
	}
	return &req
}

func hexToBase64(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for key, size := range map[string]int{"traceId": 16, "spanId": 8, "parentSpanId": 8} {
			id, ok := x[key]
			if !ok {
				continue
			}
			s, _ := id.(string)
			if len(s) != 2*size || !lowerHex.MatchString(s) {
				t.Errorf("%s %v: want %d lowercase hex digits", key, id, 2*size)
				continue
			}
			raw, _ := hex.DecodeString(s)
			x[key] = base64.StdEncoding.EncodeToString(raw)
		}
		for _, e := range x {
			hexToBase64(t, e)
		}
	case []any:
		for _, e := range x {
			hexToBase64(t, e)
		}
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestTraceFile(t *testing.T) {
	unsetOTelEnv(t)
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	ctx := context.Background()
	p, err := telemetry.NewProvider(ctx, telemetry.Config{TraceFile: path, Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}

	// A parent from another process, with a trace state, as a service's
	// TRACEPARENT and TRACESTATE would bring it.
	ts, err := trace.ParseTraceState("vendor=value")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xfb, 0xff, 0xbf, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
		SpanID:  trace.SpanID{0xff, 0xfe, 0xfd, 1, 2, 3, 4, 5}, TraceFlags: trace.FlagsSampled,
		TraceState: ts, Remote: true,
	})
	_, child := p.Tracer().Start(trace.ContextWithRemoteSpanContext(ctx, remote), "child of remote",
		trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.String("why", "follows")}}))
	child.End()
	run, suite, step := emitTree(ctx, p.Tracer())
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	want := map[string]struct{ traceID, spanID, parentID string }{
		"child of remote": {remote.TraceID().String(), child.SpanContext().SpanID().String(), remote.SpanID().String()},
		"run":             {run.TraceID().String(), run.SpanID().String(), ""},
		"suite":           {run.TraceID().String(), suite.SpanID().String(), run.SpanID().String()},
		"step":            {run.TraceID().String(), step.SpanID().String(), suite.SpanID().String()},
	}
	got := map[string]*tracepb.Span{}
	lines := readLines(t, path)
	if len(lines) == 0 {
		t.Fatal("trace file is empty")
	}
	for _, line := range lines {
		// OTLP/JSON writes enums as numbers and 64-bit integers as strings.
		for _, re := range []string{`"kind":\s*2`, `"intValue":\s*"-42"`} {
			if bytes.Contains(line, []byte(`"run"`)) && !regexp.MustCompile(re).Match(line) {
				t.Errorf("line does not match %s:\n%s", re, line)
			}
		}
		req := parseLine(t, line)
		for _, rs := range req.ResourceSpans {
			if !hasAttr(rs.Resource.GetAttributes(), "service.name", "cleanroom") ||
				!hasAttr(rs.Resource.GetAttributes(), "service.version", "v1.2.3") {
				t.Errorf("resource %v: want service.name cleanroom, service.version v1.2.3", rs.Resource)
			}
			for _, ss := range rs.ScopeSpans {
				if ss.Scope.GetName() != "github.com/cleanroomhq/cleanroom" || ss.Scope.GetVersion() != "v1.2.3" {
					t.Errorf("scope %v", ss.Scope)
				}
				for _, s := range ss.Spans {
					got[s.Name] = s
				}
			}
		}
	}
	for name, ids := range want {
		s := got[name]
		if s == nil {
			t.Errorf("span %q missing from the file", name)
			continue
		}
		if hex.EncodeToString(s.TraceId) != ids.traceID || hex.EncodeToString(s.SpanId) != ids.spanID ||
			hex.EncodeToString(s.ParentSpanId) != ids.parentID {
			t.Errorf("span %q: IDs %x/%x parent %x, want %s/%s parent %s",
				name, s.TraceId, s.SpanId, s.ParentSpanId, ids.traceID, ids.spanID, ids.parentID)
		}
	}
	if len(got) != len(want) {
		t.Errorf("file has %d spans, want %d", len(got), len(want))
	}

	c := got["child of remote"]
	if c.GetTraceState() != "vendor=value" || c.GetFlags() != 0x301 {
		t.Errorf("child of remote: trace state %q, flags %#x; want vendor=value, 0x301", c.GetTraceState(), c.GetFlags())
	}
	if len(c.GetLinks()) != 1 || hex.EncodeToString(c.Links[0].SpanId) != remote.SpanID().String() ||
		!hasAttr(c.Links[0].Attributes, "why", "follows") {
		t.Errorf("child of remote: links %v", c.GetLinks())
	}
	if st := got["step"].GetStatus(); st.GetCode() != tracepb.Status_STATUS_CODE_ERROR || st.GetMessage() != "exit code 3" {
		t.Errorf("step: status %v", st)
	}
}

func hasAttr(kvs []*commonpb.KeyValue, key, value string) bool {
	for _, kv := range kvs {
		if kv.Key == key && kv.Value.GetStringValue() == value {
			return true
		}
	}
	return false
}

// TestFileExporterConversion checks one export call field by field against
// a request built by hand: every value type, events, links, dropped counts,
// and grouping by resource and scope in order of first appearance.
func TestFileExporterConversion(t *testing.T) {
	resA := resource.NewSchemaless(attribute.String("service.name", "a"))
	resB := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "b"))
	scope1 := instrumentation.Scope{Name: "one", Version: "1.0"}
	scope2 := instrumentation.Scope{Name: "two", Attributes: attribute.NewSet(attribute.Bool("lib", true))}

	start := time.Unix(1_700_000_000, 123_456_789)
	// These IDs' base64 has '+', '/' and '=' in it, the characters a naive
	// rewrite would trip over.
	traceID := trace.TraceID{0xfb, 0xef, 0xff, 0xfb, 0xef, 0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	sc := func(span byte) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: trace.SpanID{0xff, 0xff, 0xfe, 0, 0, 0, 0, span}, TraceFlags: trace.FlagsSampled})
	}
	stub := func(name string, span byte, res *resource.Resource, scope instrumentation.Scope) tracetest.SpanStub {
		return tracetest.SpanStub{
			Name: name, SpanContext: sc(span), Parent: sc(1), SpanKind: trace.SpanKindProducer,
			StartTime: start, EndTime: start.Add(time.Second), Resource: res, InstrumentationScope: scope,
		}
	}
	full := stub("full", 2, resA, scope1)
	full.Parent = trace.SpanContext{}
	full.SpanKind = trace.SpanKindConsumer
	full.Attributes = []attribute.KeyValue{
		attribute.String("s", "x"), attribute.Int64("i", 7), attribute.Float64("f", 1.5), attribute.Bool("b", false),
		attribute.StringSlice("ss", []string{"y"}), attribute.Int64Slice("is", []int64{8}),
		attribute.Float64Slice("fs", []float64{2.5}), attribute.BoolSlice("bs", []bool{true}),
		attribute.ByteSlice("bytes", []byte{0, 0xff}),
		{Key: "mixed", Value: attribute.SliceValue(attribute.IntValue(1), attribute.StringValue("two"))},
		{Key: "map", Value: attribute.MapValue(attribute.String("k", "v"))},
		{Key: "empty"},
	}
	full.Events = []sdktrace.Event{{Name: "ev", Time: start.Add(time.Millisecond), Attributes: []attribute.KeyValue{attribute.Int("n", 1)}, DroppedAttributeCount: 2}}
	full.Links = []sdktrace.Link{{SpanContext: sc(9), Attributes: []attribute.KeyValue{attribute.String("l", "v")}, DroppedAttributeCount: 3}}
	full.Status = sdktrace.Status{Code: codes.Error, Description: "boom"}
	full.DroppedAttributes, full.DroppedEvents, full.DroppedLinks = 4, 5, 6

	stubs := tracetest.SpanStubs{
		full,
		stub("b1", 3, resB, scope1),
		stub("a2", 4, resA, scope2),
		stub("a1 again", 5, resA, scope1),
	}
	var buf bytes.Buffer
	exp := telemetry.NewFileExporter(&buf)
	if err := exp.ExportSpans(context.Background(), stubs.Snapshots()); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 || !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		t.Fatalf("want exactly one line, got %d newlines:\n%s", n, buf.Bytes())
	}

	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	i64 := func(i int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
	}
	f64 := func(f float64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	}
	boolean := func(b bool) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
	}
	array := func(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
	}
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	id := func(span byte) []byte { return []byte{0xff, 0xff, 0xfe, 0, 0, 0, 0, span} }
	startNS, endNS := uint64(start.UnixNano()), uint64(start.Add(time.Second).UnixNano())
	simple := func(name string, span byte) *tracepb.Span {
		return &tracepb.Span{
			TraceId: traceID[:], SpanId: id(span), ParentSpanId: id(1), Flags: 0x101, Name: name,
			Kind: tracepb.Span_SPAN_KIND_PRODUCER, StartTimeUnixNano: startNS, EndTimeUnixNano: endNS,
			Status: &tracepb.Status{},
		}
	}
	want := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("a"))}},
			ScopeSpans: []*tracepb.ScopeSpans{
				{
					Scope: &commonpb.InstrumentationScope{Name: "one", Version: "1.0"},
					Spans: []*tracepb.Span{{
						TraceId: traceID[:], SpanId: id(2), Flags: 0x101, Name: "full",
						Kind: tracepb.Span_SPAN_KIND_CONSUMER, StartTimeUnixNano: startNS, EndTimeUnixNano: endNS,
						Attributes: []*commonpb.KeyValue{
							kv("s", str("x")),
							kv("i", i64(7)),
							kv("f", f64(1.5)),
							kv("b", boolean(false)),
							kv("ss", array(str("y"))),
							kv("is", array(i64(8))),
							kv("fs", array(f64(2.5))),
							kv("bs", array(boolean(true))),
							kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 0xff}}}),
							kv("mixed", array(i64(1), str("two"))),
							kv("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
								Values: []*commonpb.KeyValue{kv("k", str("v"))},
							}}}),
							kv("empty", &commonpb.AnyValue{}),
						},
						DroppedAttributesCount: 4,
						Events: []*tracepb.Span_Event{{
							TimeUnixNano: uint64(start.Add(time.Millisecond).UnixNano()), Name: "ev",
							Attributes: []*commonpb.KeyValue{kv("n", i64(1))}, DroppedAttributesCount: 2,
						}},
						DroppedEventsCount: 5,
						Links: []*tracepb.Span_Link{{
							TraceId: traceID[:], SpanId: id(9), Flags: 0x101,
							Attributes: []*commonpb.KeyValue{kv("l", str("v"))}, DroppedAttributesCount: 3,
						}},
						DroppedLinksCount: 6,
						Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
					}, simple("a1 again", 5)},
				},
				{
					Scope: &commonpb.InstrumentationScope{Name: "two", Attributes: []*commonpb.KeyValue{kv("lib", boolean(true))}},
					Spans: []*tracepb.Span{simple("a2", 4)},
				},
			},
		},
		{
			Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("b"))}},
			SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
			ScopeSpans: []*tracepb.ScopeSpans{{
				Scope: &commonpb.InstrumentationScope{Name: "one", Version: "1.0"},
				Spans: []*tracepb.Span{simple("b1", 3)},
			}},
		},
	}}
	got := parseLine(t, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if !proto.Equal(got, want) {
		t.Errorf("decoded line differs\n got: %v\nwant: %v", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFileExporterErrors(t *testing.T) {
	spans := tracetest.SpanStubs{{Name: "x"}}.Snapshots()
	ctx := context.Background()

	exp := telemetry.NewFileExporter(failingWriter{})
	if err := exp.ExportSpans(ctx, spans); err == nil {
		t.Error("ExportSpans to a failing writer: no error")
	}
	// The batch processor only logs export errors, so Shutdown repeats the
	// first one.
	if err := exp.Shutdown(ctx); err == nil || !bytes.Contains([]byte(err.Error()), []byte("disk full")) {
		t.Errorf("Shutdown after a failed write: %v, want the write error", err)
	}

	var buf bytes.Buffer
	exp = telemetry.NewFileExporter(&buf)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := exp.ExportSpans(cancelled, spans); !errors.Is(err, context.Canceled) {
		t.Errorf("ExportSpans with a cancelled context: %v", err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(ctx, spans); err == nil {
		t.Error("ExportSpans after Shutdown: no error")
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q, want nothing", buf.Bytes())
	}
}

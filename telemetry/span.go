package telemetry

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Span is a span as the Receiver keeps it: the parts a span assertion looks
// at, in plain Go types.
type Span struct {
	// TraceID, SpanID and ParentSpanID are lowercase hex; ParentSpanID is
	// empty for a root span.
	TraceID, SpanID, ParentSpanID string
	Name                          string
	// Kind is "internal", "server", "client", "producer", "consumer" or
	// "unspecified".
	Kind       string
	Start, End time.Time
	// Attributes hold int64, float64, bool, string, []any of those, and,
	// rarer, map[string]any (OTLP key-value lists), []byte, or nil (an
	// empty value).
	Attributes map[string]any
	// Status is "unset", "ok" or "error".
	Status        string
	StatusMessage string
	// Service is the resource's service.name.
	Service string
	Events  []Event
}

// Event is a timestamped annotation on a span.
type Event struct {
	Name       string
	Time       time.Time
	Attributes map[string]any
}

// spansFromRequest converts every span of req, or fails on the first one
// that is not well formed.
func spansFromRequest(req *coltracepb.ExportTraceServiceRequest) ([]Span, error) {
	var out []Span
	for i, rs := range req.GetResourceSpans() {
		service := serviceName(rs.GetResource())
		for j, ss := range rs.GetScopeSpans() {
			for k, s := range ss.GetSpans() {
				span, err := spanFromProto(s, service)
				if err != nil {
					return nil, fmt.Errorf("resourceSpans[%d].scopeSpans[%d].spans[%d]: %w", i, j, k, err)
				}
				out = append(out, span)
			}
		}
	}
	return out, nil
}

func serviceName(res *resourcepb.Resource) string {
	for _, kv := range res.GetAttributes() {
		if kv.GetKey() == "service.name" {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func spanFromProto(s *tracepb.Span, service string) (Span, error) {
	traceID, err := id(s.GetTraceId(), 16, false)
	if err != nil {
		return Span{}, fmt.Errorf("traceId: %w", err)
	}
	spanID, err := id(s.GetSpanId(), 8, false)
	if err != nil {
		return Span{}, fmt.Errorf("spanId: %w", err)
	}
	parentID, err := id(s.GetParentSpanId(), 8, true)
	if err != nil {
		return Span{}, fmt.Errorf("parentSpanId: %w", err)
	}
	start, err := fromUnixNano(s.GetStartTimeUnixNano())
	if err != nil {
		return Span{}, fmt.Errorf("startTimeUnixNano: %w", err)
	}
	end, err := fromUnixNano(s.GetEndTimeUnixNano())
	if err != nil {
		return Span{}, fmt.Errorf("endTimeUnixNano: %w", err)
	}
	span := Span{
		TraceID:       traceID,
		SpanID:        spanID,
		ParentSpanID:  parentID,
		Name:          s.GetName(),
		Kind:          kindName(s.GetKind()),
		Start:         start,
		End:           end,
		Attributes:    attributes(s.GetAttributes()),
		Status:        statusName(s.GetStatus().GetCode()),
		StatusMessage: s.GetStatus().GetMessage(),
		Service:       service,
	}
	for i, ev := range s.GetEvents() {
		t, err := fromUnixNano(ev.GetTimeUnixNano())
		if err != nil {
			return Span{}, fmt.Errorf("events[%d].timeUnixNano: %w", i, err)
		}
		span.Events = append(span.Events, Event{Name: ev.GetName(), Time: t, Attributes: attributes(ev.GetAttributes())})
	}
	return span, nil
}

// id formats a trace or span ID; a wrong length would make IDs that can
// never match a parent, so it is an error rather than a quiet miss.
func id(b []byte, size int, optional bool) (string, error) {
	if len(b) == 0 && optional {
		return "", nil
	}
	if len(b) != size {
		return "", fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return hex.EncodeToString(b), nil
}

func fromUnixNano(ns uint64) (time.Time, error) {
	if ns == 0 {
		return time.Time{}, nil
	}
	if ns > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("%d is out of range", ns)
	}
	return time.Unix(0, int64(ns)).UTC(), nil
}

func kindName(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "unspecified"
}

func statusName(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}

// attributes keeps the last value of a repeated key, as the SDK does.
func attributes(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		values := x.ArrayValue.GetValues()
		out := make([]any, len(values))
		for i, e := range values {
			out[i] = value(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return attributes(x.KvlistValue.GetValues())
	}
	return nil
}

// clone copies s deeply, so a caller may change what it got.
func (s Span) clone() Span {
	s.Attributes = cloneAttributes(s.Attributes)
	if s.Events != nil {
		events := make([]Event, len(s.Events))
		for i, ev := range s.Events {
			ev.Attributes = cloneAttributes(ev.Attributes)
			events[i] = ev
		}
		s.Events = events
	}
	return s
}

func cloneAttributes(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		return cloneAttributes(x)
	case []byte:
		return bytes.Clone(x)
	}
	return v
}

package telemetry_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/cleanroomhq/cleanroom/telemetry"
)

type response struct {
	status      int
	contentType string
	body        string
}

func post(t *testing.T, url, contentType, encoding string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// request wraps spans of service "svc" in an export request.
func request(spans ...*tracepb.Span) *coltracepb.ExportTraceServiceRequest {
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "svc"}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}
}

func protoSpan(name string, n byte, start time.Time) *tracepb.Span {
	return &tracepb.Span{
		TraceId: bytes.Repeat([]byte{0xab}, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, n}, Name: name,
		StartTimeUnixNano: uint64(start.UnixNano()), EndTimeUnixNano: uint64(start.Add(time.Millisecond).UnixNano()),
		Attributes: []*commonpb.KeyValue{{Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(n)}}}},
	}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// otlpJSON is written by hand after the OTLP specification's example: hex IDs
// in either case, enums as numbers or names, 64-bit integers as strings or
// numbers, both spellings of field names, and a field this receiver does not
// know, which it must ignore.
const otlpJSON = `{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
    "scopeSpans": [{
      "scope": {"name": "shop/http", "version": "1.0"},
      "spans": [
        {
          "traceId": "5B8EFFF798038103D269B633813FC60C",
          "spanId": "EEE19B7EC3C1B174",
          "name": "GET /users",
          "kind": 2,
          "startTimeUnixNano": "1544712660000000000",
          "endTimeUnixNano": "1544712661000000000",
          "attributes": [
            {"key": "http.status_code", "value": {"intValue": "200"}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "cached", "value": {"boolValue": false}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 1}]}}},
            {"key": "obj", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}}
          ],
          "status": {"code": 1},
          "someFutureField": {"x": 1}
        },
        {
          "trace_id": "5b8efff798038103d269b633813fc60c",
          "span_id": "0102030405060708",
          "parent_span_id": "eee19b7ec3c1b174",
          "name": "SELECT users",
          "kind": "SPAN_KIND_CLIENT",
          "startTimeUnixNano": 1544712660100000000,
          "endTimeUnixNano": "1544712660900000000",
          "events": [{"timeUnixNano": "1544712660200000000", "name": "retry", "attributes": [{"key": "attempt", "value": {"intValue": 2}}]}],
          "status": {"code": 2, "message": "timeout"}
        }
      ]
    }]
  }]
}`

func TestReceiverJSON(t *testing.T) {
	r := newReceiver(t)
	resp := post(t, r.Endpoint()+"/v1/traces", "application/json; charset=utf-8", "", []byte(otlpJSON))
	if resp.status != http.StatusOK || resp.contentType != "application/json" || resp.body != "{}" {
		t.Fatalf("response %+v, want 200 application/json {}", resp)
	}
	at := func(ns int64) time.Time { return time.Unix(0, ns).UTC() }
	want := []telemetry.Span{
		{
			TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174",
			Name: "GET /users", Kind: "server", Start: at(1544712660000000000), End: at(1544712661000000000),
			Attributes: map[string]any{
				"http.status_code": int64(200), "ratio": 0.5, "cached": false,
				"tags": []any{"a", int64(1)}, "obj": map[string]any{"k": "v"},
			},
			Status: "ok", Service: "shop",
		},
		{
			TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "0102030405060708", ParentSpanID: "eee19b7ec3c1b174",
			Name: "SELECT users", Kind: "client", Start: at(1544712660100000000), End: at(1544712660900000000),
			Attributes: map[string]any{}, Status: "error", StatusMessage: "timeout", Service: "shop",
			Events: []telemetry.Event{{Name: "retry", Time: at(1544712660200000000), Attributes: map[string]any{"attempt": int64(2)}}},
		},
	}
	if got := r.Spans(); !reflect.DeepEqual(got, want) {
		t.Errorf("spans\n got: %#v\nwant: %#v", got, want)
	}
}

func TestReceiverProtobufGzip(t *testing.T) {
	r := newReceiver(t)
	body := gzipped(t, marshal(t, request(protoSpan("zipped", 1, time.Now()))))
	resp := post(t, r.Endpoint()+"/v1/traces", "application/x-protobuf", "gzip", body)
	if resp.status != http.StatusOK || resp.contentType != "application/x-protobuf" {
		t.Fatalf("response %+v, want 200 application/x-protobuf", resp)
	}
	var answer coltracepb.ExportTraceServiceResponse
	if err := proto.Unmarshal([]byte(resp.body), &answer); err != nil || answer.PartialSuccess != nil {
		t.Errorf("response body %q: %v, want an empty ExportTraceServiceResponse", resp.body, err)
	}
	if got := r.Spans(); len(got) != 1 || got[0].Name != "zipped" || got[0].Service != "svc" {
		t.Errorf("spans %+v, want one span \"zipped\" of service \"svc\"", got)
	}
}

func TestReceiverRejects(t *testing.T) {
	r := newReceiver(t)
	noSpanID := protoSpan("x", 1, time.Now())
	noSpanID.SpanId = nil
	// 17 MiB of zeros gzip to a few KiB.
	bomb := gzipped(t, make([]byte, 17<<20))

	for _, tt := range []struct {
		name        string
		method      string
		path        string
		contentType string
		encoding    string
		body        []byte
		status      int
		want        string
	}{
		{name: "GET", method: http.MethodGet, status: http.StatusMethodNotAllowed, want: "want POST"},
		{name: "other path", path: "/v1/metrics", contentType: "application/x-protobuf", status: http.StatusNotFound, want: "404"},
		{name: "text", contentType: "text/plain", body: []byte("hi"), status: http.StatusUnsupportedMediaType, want: `content type "text/plain" not supported`},
		{name: "no content type", body: []byte("hi"), status: http.StatusUnsupportedMediaType, want: "not supported"},
		{name: "unknown encoding", contentType: "application/json", encoding: "br", body: []byte("{}"), status: http.StatusUnsupportedMediaType, want: `content encoding "br"`},
		{name: "garbage protobuf", contentType: "application/x-protobuf", body: []byte("\xff\xff\xff\xff"), status: http.StatusBadRequest, want: "decode application/x-protobuf"},
		{name: "garbage JSON", contentType: "application/json", body: []byte(`{"resourceSpans": [`), status: http.StatusBadRequest, want: "decode application/json"},
		{name: "base64 ID in JSON", contentType: "application/json", status: http.StatusBadRequest, want: "want a hex string",
			body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ="}]}]}]}`)},
		{name: "short ID in JSON", contentType: "application/json", status: http.StatusBadRequest, want: "traceId: 3 bytes, want 16",
			body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcdef","spanId":"0102030405060708"}]}]}]}`)},
		{name: "missing span ID", contentType: "application/x-protobuf", body: marshal(t, request(noSpanID)), status: http.StatusBadRequest,
			want: "resourceSpans[0].scopeSpans[0].spans[0]: spanId: 0 bytes, want 8"},
		{name: "not gzip", contentType: "application/x-protobuf", encoding: "gzip", body: []byte("plain"), status: http.StatusBadRequest, want: "gzip"},
		{name: "too large", contentType: "application/x-protobuf", body: make([]byte, 16<<20+1), status: http.StatusRequestEntityTooLarge, want: "larger than"},
		{name: "gzip bomb", contentType: "application/x-protobuf", encoding: "gzip", body: bomb, status: http.StatusRequestEntityTooLarge, want: "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method := cmp.Or(tt.method, http.MethodPost)
			req, err := http.NewRequest(method, r.Endpoint()+cmp.Or(tt.path, "/v1/traces"), bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("got %d %q, want %d and a body containing %q", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
	if n := len(r.Spans()); n != 0 {
		t.Errorf("rejected requests left %d spans", n)
	}
}

func TestReceiverSpansSinceResetAndCopies(t *testing.T) {
	r := newReceiver(t)
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	// The later span arrives first: exporters batch, so arrival order says
	// little about when a span happened.
	body := marshal(t, request(protoSpan("late", 2, t0.Add(time.Second)), protoSpan("early", 1, t0)))
	if resp := post(t, r.Endpoint()+"/v1/traces", "application/x-protobuf", "", body); resp.status != http.StatusOK {
		t.Fatalf("response %+v", resp)
	}

	names := func(spans []telemetry.Span) []string {
		var out []string
		for _, s := range spans {
			out = append(out, s.Name)
		}
		return out
	}
	for _, tt := range []struct {
		since time.Time
		want  []string
	}{
		{t0.Add(-time.Hour), []string{"late", "early"}},
		{t0, []string{"late", "early"}},
		{t0.Add(time.Nanosecond), []string{"late"}},
		{t0.Add(time.Hour), nil},
	} {
		if got := names(r.SpansSince(tt.since)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SpansSince(%v) = %q, want %q", tt.since, got, tt.want)
		}
	}

	spans := r.Spans()
	spans[0].Attributes["n"] = "changed"
	spans[0].Name = "changed"
	if again := r.Spans(); again[0].Name != "late" || again[0].Attributes["n"] != int64(2) {
		t.Errorf("changing a returned span changed the receiver's: %+v", again[0])
	}

	r.Reset()
	if n := len(r.Spans()); n != 0 {
		t.Errorf("after Reset: %d spans", n)
	}
}

func TestReceiverConcurrentClients(t *testing.T) {
	r := newReceiver(t)
	const clients, requests = 8, 10
	var wg sync.WaitGroup
	for c := range clients {
		bodies := make([][]byte, requests)
		for i := range bodies {
			bodies[i] = marshal(t, request(protoSpan(fmt.Sprintf("c%d-%d", c, i), byte(i), time.Now())))
		}
		wg.Go(func() {
			for _, body := range bodies {
				resp, err := http.Post(r.Endpoint()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
				_ = r.Spans()
			}
		})
	}
	wg.Wait()
	if n := len(r.Spans()); n != clients*requests {
		t.Errorf("got %d spans, want %d", n, clients*requests)
	}
}

func TestReceiverClose(t *testing.T) {
	r, err := telemetry.NewReceiver("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Endpoint(), "http://127.0.0.1:") || strings.HasSuffix(r.Addr(), ":0") {
		t.Errorf("Addr %q, Endpoint %q", r.Addr(), r.Endpoint())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Post(r.Endpoint()+"/v1/traces", "application/json", strings.NewReader("{}")); err == nil {
		t.Error("a closed receiver still answers")
	}
	if _, err := telemetry.NewReceiver("256.0.0.1:0"); err == nil {
		t.Error("NewReceiver on an impossible address: no error")
	}
}

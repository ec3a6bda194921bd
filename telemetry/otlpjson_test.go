package telemetry

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

func TestRewriteIDs(t *testing.T) {
	for _, tt := range []struct {
		name, in, want, err string
	}{
		{name: "span IDs", in: `{"traceId":"AAECAwQFBgcICQoLDA0ODw==","spanId" : "+/7//v/+//8="}`,
			want: `{"traceId":"000102030405060708090a0b0c0d0e0f","spanId" : "fbfefffefffeffff"}`},
		{name: "snake case", in: `{"parent_span_id":"AQIDBAUGBwg="}`, want: `{"parent_span_id":"0102030405060708"}`},
		{name: "values named like keys stay", in: `{"name":"traceId","key":"spanId","v":["traceId"]}`,
			want: `{"name":"traceId","key":"spanId","v":["traceId"]}`},
		{name: "escaped quotes in strings", in: `{"name":"a\"traceId\":\"AQ==","spanId":"AQIDBAUGBwg="}`,
			want: `{"name":"a\"traceId\":\"AQ==","spanId":"0102030405060708"}`},
		{name: "non-string ID left for the parser", in: `{"traceId":12}`, want: `{"traceId":12}`},
		{name: "unterminated", in: `{"traceId":"AQ`, want: `{"traceId":"AQ`},
		{name: "bad base64", in: `{"traceId":"!!"}`, err: `traceId "!!"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rewriteIDs([]byte(tt.in), base64ToHex)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v\nwant %s", got, err, tt.want)
			}
		})
	}
}

// The receiver must answer every body with a status, never panic. The seeds
// run as a plain test; `go test -fuzz FuzzReceiver ./telemetry` searches on.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}`), true)
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8e","spanId":"zz"}]}]}]}`), true)
	f.Add([]byte("\x0a\x02\x12\x00"), false)
	f.Add([]byte{}, false)
	r := &Receiver{}
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		req := httptest.NewRequest(http.MethodPost, tracesPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", map[bool]string{true: contentTypeJSON, false: contentTypeProtobuf}[isJSON])
		w := httptest.NewRecorder()
		r.handleTraces(w, req)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
		// Whatever was accepted must survive an encode/decode round trip.
		if w.Code == http.StatusOK && isJSON {
			var msg coltracepb.ExportTraceServiceRequest
			if err := unmarshalOTLPJSON(body, &msg); err != nil {
				t.Fatal(err)
			}
			line, err := marshalOTLPJSON(&msg)
			if err != nil {
				t.Fatal(err)
			}
			var again coltracepb.ExportTraceServiceRequest
			if err := unmarshalOTLPJSON(line, &again); err != nil {
				t.Fatalf("%v\n%s", err, line)
			}
		}
	})
}

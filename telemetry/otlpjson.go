package telemetry

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// OTLP/JSON is protobuf's JSON mapping with three differences: trace and
// span IDs are hex where protojson writes base64, enums are numbers, and
// unknown fields are ignored. protojson does the rest; the IDs are rewritten
// in the JSON text on the way out and on the way in.

// marshalOTLPJSON encodes req as one line of OTLP/JSON (no newline).
func marshalOTLPJSON(req *coltracepb.ExportTraceServiceRequest) ([]byte, error) {
	b, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(req)
	if err != nil {
		return nil, err
	}
	return rewriteIDs(b, base64ToHex)
}

// unmarshalOTLPJSON decodes an OTLP/JSON request.
func unmarshalOTLPJSON(b []byte, req *coltracepb.ExportTraceServiceRequest) error {
	b, err := rewriteIDs(b, hexToBase64)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, req)
}

// isIDField reports whether a JSON key names a trace or span ID, in either
// spelling protojson accepts. In a trace request only spans and links have
// such keys, and attribute names are never JSON keys (attributes are
// {"key": ..., "value": ...} objects), so matching keys is exact.
func isIDField(key []byte) bool {
	switch string(key) {
	case "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id":
		return true
	}
	return false
}

// rewriteIDs copies the JSON text src, passing the string value of every ID
// field through conv, which appends the replacement to dst. It tracks only
// strings, keys and colons; anything malformed is copied unchanged for the
// JSON parser to reject.
func rewriteIDs(src []byte, conv func(dst, id []byte) ([]byte, error)) ([]byte, error) {
	out := make([]byte, 0, len(src)+len(src)/4)
	for i := 0; i < len(src); {
		if src[i] != '"' {
			out = append(out, src[i])
			i++
			continue
		}
		end, ok := stringEnd(src, i)
		if !ok {
			return append(out, src[i:]...), nil
		}
		key := src[i+1 : end-1]
		out = append(out, src[i:end]...)
		i = end
		if !isIDField(key) {
			continue
		}
		// A string followed by a colon is a key; its value follows.
		colon := skipSpace(src, i)
		if colon == len(src) || src[colon] != ':' {
			continue
		}
		start := skipSpace(src, colon+1)
		if start == len(src) || src[start] != '"' {
			continue
		}
		vend, ok := stringEnd(src, start)
		if !ok {
			continue
		}
		out = append(out, src[i:start+1]...)
		var err error
		if out, err = conv(out, src[start+1:vend-1]); err != nil {
			return nil, fmt.Errorf("%s %q: %w", key, src[start+1:vend-1], err)
		}
		out = append(out, '"')
		i = vend
	}
	return out, nil
}

// stringEnd returns the index just past the JSON string that starts at
// src[start], a quote.
func stringEnd(src []byte, start int) (int, bool) {
	for k := start + 1; k < len(src); k++ {
		switch src[k] {
		case '\\':
			k++
		case '"':
			return k + 1, true
		}
	}
	return 0, false
}

func skipSpace(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

func base64ToHex(dst, id []byte) ([]byte, error) {
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(id)))
	n, err := base64.StdEncoding.Decode(raw, id)
	if err != nil {
		return nil, err
	}
	return hex.AppendEncode(dst, raw[:n]), nil
}

var errNotHex = errors.New("want a hex string")

func hexToBase64(dst, id []byte) ([]byte, error) {
	raw, err := hex.AppendDecode(nil, id)
	if err != nil {
		return nil, errNotHex
	}
	return base64.StdEncoding.AppendEncode(dst, raw), nil
}

package telemetry

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// maxBodyBytes bounds a request body, before and after decompression.
const maxBodyBytes = 16 << 20

const (
	contentTypeProtobuf = "application/x-protobuf"
	contentTypeJSON     = "application/json"
)

// Receiver is an OTLP/HTTP trace endpoint that keeps what it receives in
// memory: the collector a test's services export to. It accepts POST
// /v1/traces as protobuf or OTLP/JSON, either optionally gzip-compressed, and
// rejects anything else with a 4xx status and a plain-text reason.
type Receiver struct {
	ln       net.Listener
	srv      *http.Server
	served   chan struct{} // closed when Serve returns
	serveErr error

	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	spans []Span
}

// NewReceiver listens on addr, such as "127.0.0.1:0" or an environment
// network's gateway address, and serves until Close.
func NewReceiver(addr string) (*Receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("telemetry: receiver: %w", err)
	}
	return Serve(ln), nil
}

// Serve serves on ln (one made inside an environment's own network, say)
// until Close, which closes ln.
func Serve(ln net.Listener) *Receiver {
	r := &Receiver{ln: ln, served: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc(tracesPath, r.handleTraces)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go func() {
		defer close(r.served)
		if err := r.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			r.serveErr = err
		}
	}()
	return r
}

// Addr is the host:port the receiver listens on.
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// Endpoint is the receiver's base URL, the value for
// OTEL_EXPORTER_OTLP_ENDPOINT.
func (r *Receiver) Endpoint() string { return "http://" + r.Addr() }

// Close stops the receiver at once, cutting off requests in flight. The
// spans received so far stay readable.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		err := r.srv.Close()
		<-r.served
		r.closeErr = errors.Join(err, r.serveErr)
		if r.closeErr != nil {
			r.closeErr = fmt.Errorf("telemetry: receiver: %w", r.closeErr)
		}
	})
	return r.closeErr
}

// Spans returns a copy of every span received, in arrival order.
func (r *Receiver) Spans() []Span {
	return r.filter(func(Span) bool { return true })
}

// SpansSince returns the spans that started at or after t, in arrival order.
// Start time, not arrival, is what counts: exporters batch, so a span may
// arrive well after the step that caused it, or a late span of an earlier
// step may arrive during this one.
func (r *Receiver) SpansSince(t time.Time) []Span {
	return r.filter(func(s Span) bool { return !s.Start.Before(t) })
}

// Reset forgets every span received so far.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = nil
}

func (r *Receiver) filter(keep func(Span) bool) []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Span, 0, len(r.spans))
	for _, s := range r.spans {
		if keep(s) {
			out = append(out, s.clone())
		}
	}
	return out
}

// httpError is a rejected request: the status and the reason sent back.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	contentType, err := r.receive(w, req)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{http.StatusBadRequest, err.Error()}
		}
		http.Error(w, "otlp receiver: "+he.msg, he.status)
		return
	}
	// An empty ExportTraceServiceResponse: zero bytes in protobuf, {} in JSON.
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	if contentType == contentTypeJSON {
		_, _ = io.WriteString(w, "{}")
	}
}

// receive decodes and stores one request and returns its content type.
func (r *Receiver) receive(w http.ResponseWriter, req *http.Request) (string, error) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: want POST", req.Method)}
	}
	contentType, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || (contentType != contentTypeProtobuf && contentType != contentTypeJSON) {
		return "", &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf(
			"content type %q not supported: want %s or %s", req.Header.Get("Content-Type"), contentTypeProtobuf, contentTypeJSON)}
	}
	body, err := readBody(w, req)
	if err != nil {
		return "", err
	}

	var msg coltracepb.ExportTraceServiceRequest
	if contentType == contentTypeJSON {
		err = unmarshalOTLPJSON(body, &msg)
	} else {
		err = proto.Unmarshal(body, &msg)
	}
	if err != nil {
		return "", fmt.Errorf("decode %s: %w", contentType, err)
	}
	spans, err := spansFromRequest(&msg)
	if err != nil {
		return "", err
	}

	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	r.mu.Unlock()
	return contentType, nil
}

// readBody reads the whole body, decompressing it, and refuses more than
// maxBodyBytes either way: a small gzip body can inflate enormously.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	var body io.Reader = http.MaxBytesReader(w, req.Body, maxBodyBytes)
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, tooLargeOr(err, "gzip")
		}
		defer zr.Close()
		body = zr
	default:
		return nil, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("content encoding %q not supported: want gzip or none", enc)}
	}
	b, err := io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	if err != nil {
		return nil, tooLargeOr(err, "read body")
	}
	if len(b) > maxBodyBytes {
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBodyBytes)}
	}
	return b, nil
}

func tooLargeOr(err error, what string) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBodyBytes)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

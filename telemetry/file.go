package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// FileExporter is a span exporter that writes OTLP/JSON: each ExportSpans
// call becomes one line holding one ExportTraceServiceRequest, the format of
// the Collector's otlpjsonfile receiver. It does not own the writer.
type FileExporter struct {
	mu       sync.Mutex
	w        io.Writer
	writeErr error // the first failed write, reported again by Shutdown
	shutdown bool
}

var _ sdktrace.SpanExporter = (*FileExporter)(nil)

// NewFileExporter returns an exporter writing to w. Each line is written
// with a single Write call.
func NewFileExporter(w io.Writer) *FileExporter {
	return &FileExporter{w: w}
}

// ExportSpans writes spans as one line, grouped by resource and scope.
func (e *FileExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := marshalOTLPJSON(exportRequest(spans))
	if err != nil {
		return fmt.Errorf("telemetry: encode spans: %w", err)
	}
	line = append(line, '\n')

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutdown {
		return errors.New("telemetry: file exporter is shut down")
	}
	if _, err := e.w.Write(line); err != nil {
		err = fmt.Errorf("telemetry: write trace file: %w", err)
		if e.writeErr == nil {
			e.writeErr = err
		}
		return err
	}
	return nil
}

// Shutdown stops the exporter. It returns the first write error, if any, so
// that a trace file with holes does not go unnoticed: the batch processor
// only logs export errors.
func (e *FileExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shutdown = true
	return e.writeErr
}

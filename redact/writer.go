package redact

import (
	"bytes"
	"io"
	"sync"
)

// Writer redacts a stream, such as a container's output on its way to the
// console, before passing it on. It is line-buffered: it holds back the
// last, unfinished line until its newline arrives (or Flush or Close), so
// that a secret split across two Writes ("pass" then "word\n") is caught.
// A secret that spans lines (a PEM key) is held back whole as well.
//
// Patterns are applied to whole lines, often several at a time: a pattern
// that matches across a newline is only caught when those lines arrive in
// the same Write, and ^ and $ (without the m flag) mark the ends of each
// chunk passed on, not of lines.
//
// A Writer is safe for concurrent use. Goroutines that each write whole
// lines get them out whole; a line left unfinished by one is continued by
// whatever the next Write brings, whoever calls it.
type Writer struct {
	r  *Redactor
	w  io.Writer
	mu sync.Mutex
	// pending is what was written and cannot be passed on yet.
	pending []byte
}

// Writer returns a Writer that writes to w what is written to it, redacted.
// When r has nothing to redact it holds nothing back.
func (r *Redactor) Writer(w io.Writer) *Writer {
	return &Writer{r: r, w: w}
}

// Write redacts and passes on every complete line of what was written so
// far, and keeps the rest. It returns len(p) once p is taken in, with the
// error of the underlying writer if passing on failed; what failed to be
// passed on is dropped, as writing it again could duplicate part of it.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.r.Active() {
		return w.w.Write(p)
	}
	w.pending = append(w.pending, p...)
	if n := w.r.safeCut(w.pending); n > 0 {
		return len(p), w.emit(n)
	}
	return len(p), nil
}

// Flush redacts and passes on what is held back, the unfinished line
// included.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	return w.emit(len(w.pending))
}

// Close flushes. It does not close the underlying writer, which is usually
// a console stream that other writers share.
func (w *Writer) Close() error { return w.Flush() }

// emit redacts and writes the first n pending bytes, and drops them.
func (w *Writer) emit(n int) error {
	out := w.r.Bytes(w.pending[:n])
	written, err := w.w.Write(out)
	if err == nil && written < len(out) {
		err = io.ErrShortWrite
	}
	// Only now: out may be pending itself.
	w.pending = append(w.pending[:0], w.pending[n:]...)
	return err
}

// safeCut returns how much of buf a Writer can redact and pass on now: up
// to the end of its last complete line, but not into a secret that spans
// lines and goes on past that point, or may go on in what is still to
// come. Secrets without a newline never cross the end of a line.
func (r *Redactor) safeCut(buf []byte) int {
	cut := bytes.LastIndexByte(buf, '\n') + 1
	for moved := true; moved && cut > 0; {
		moved = false
		for _, s := range r.multiline {
			if start, ok := across(buf, cut, s); ok {
				cut = bytes.LastIndexByte(buf[:start], '\n') + 1
				moved = true
			}
		}
	}
	return cut
}

// across returns where an occurrence of s in buf starts that begins before
// cut and ends after it, or would end after it if buf went on: one that
// the end of buf cuts short counts.
func across(buf []byte, cut int, s string) (int, bool) {
	for start := max(0, cut-len(s)+1); start < cut; start++ {
		end := min(len(buf), start+len(s))
		if string(buf[start:end]) == s[:end-start] {
			return start, true
		}
	}
	return 0, false
}

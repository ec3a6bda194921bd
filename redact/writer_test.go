package redact_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

const pemKey = "-----BEGIN KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQEF\n-----END KEY-----"

func TestWriter(t *testing.T) {
	// Each step writes, or flushes when write is "", and then the
	// underlying writer must have received out in all.
	type step struct{ write, out string }
	flush := func(out string) step { return step{"", out} }
	tests := []struct {
		name  string
		steps []step
	}{
		{
			"a secret split across writes",
			[]step{{"my pass", ""}, {"word is set\n", "my [REDACTED] is set\n"}},
		},
		{
			"a partial line waits for Flush",
			[]step{{"token password", ""}, flush("token [REDACTED]")},
		},
		{
			"complete lines go at once, the partial one waits",
			[]step{
				{"a\nb password\nc pass", "a\nb [REDACTED]\n"},
				{"word\n", "a\nb [REDACTED]\nc [REDACTED]\n"},
			},
		},
		{
			"a pattern split across writes",
			[]step{{"tok_ab", ""}, {"cd!\n", "[REDACTED]!\n"}},
		},
		{
			"a secret that spans lines is held back whole",
			[]step{
				{"key:\n-----BEGIN KEY-----\n", "key:\n"},
				{"MIIEvQIBADANBg\n", "key:\n"},
				{"kqhkiG9w0BAQEF\n-----END KEY-----\ndone\n", "key:\n[REDACTED]\ndone\n"},
			},
		},
		{
			"what only starts like such a secret goes once it differs",
			[]step{
				{"-----BEGIN KEY-----\n", ""},
				{"other\n", "-----BEGIN KEY-----\nother\n"},
			},
		},
		{
			"Flush lets out the start of a secret that never ended",
			[]step{{"-----BEGIN KEY-----\nMIIEvQIBADANBg\n", ""}, flush("-----BEGIN KEY-----\nMIIEvQIBADANBg\n")},
		},
		{
			"nothing to flush",
			[]step{{"x\n", "x\n"}, flush("x\n"), flush("x\n")},
		},
	}
	r := mustNew(t, []string{"password", pemKey}, []string{`tok_\w+`})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			w := r.Writer(&out)
			for i, s := range tt.steps {
				if s.write == "" {
					if err := w.Flush(); err != nil {
						t.Fatalf("step %d: Flush: %v", i, err)
					}
				} else if n, err := w.Write([]byte(s.write)); n != len(s.write) || err != nil {
					t.Fatalf("step %d: Write(%q) = %d, %v; want %d, nil", i, s.write, n, err, len(s.write))
				}
				if out.String() != s.out {
					t.Fatalf("step %d: after %q the output is\n%q\nwant\n%q", i, s.write, out.String(), s.out)
				}
			}
		})
	}
}

func TestWriterClose(t *testing.T) {
	r := mustNew(t, []string{"password"}, nil)
	var out strings.Builder
	w := r.Writer(&out)
	fmt.Fprint(w, "last password")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "last [REDACTED]" {
		t.Errorf("Close wrote %q", out.String())
	}
}

type failingWriter struct{ n int }

func (f failingWriter) Write(p []byte) (int, error) { return min(f.n, len(p)), errors.New("disk full") }

func TestWriterErrors(t *testing.T) {
	r := mustNew(t, []string{"password"}, nil)
	for _, under := range []failingWriter{{0}, {3}} {
		w := r.Writer(under)
		if n, err := w.Write([]byte("partial")); n != 7 || err != nil {
			t.Errorf("Write of a partial line = %d, %v; it should only be held", n, err)
		}
		if n, err := w.Write([]byte(" line\n")); n != 6 || err == nil {
			t.Errorf("Write = %d, %v; want 6 and the underlying error", n, err)
		}
		if err := w.Flush(); err != nil {
			t.Errorf("Flush after a failed write: %v; what failed should be dropped", err)
		}
	}
	w := r.Writer(shortWriter{})
	if _, err := w.Write([]byte("x\n")); err == nil {
		t.Error("a short write went unreported")
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) - 1, nil }

func TestWriterConcurrent(t *testing.T) {
	r := mustNew(t, []string{"password"}, nil)
	var out strings.Builder
	w := r.Writer(&out)
	const goroutines, lines = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "goroutine %d line %d password\n", g, i)
				if i%50 == 0 {
					if err := w.Flush(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != goroutines*lines {
		t.Fatalf("%d lines, want %d", len(got), goroutines*lines)
	}
	for _, line := range got {
		var g, i int
		if _, err := fmt.Sscanf(line, "goroutine %d line %d [REDACTED]", &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
	}
}

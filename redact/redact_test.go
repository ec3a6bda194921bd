package redact_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/redact"
)

func mustNew(t testing.TB, secrets, patterns []string) *redact.Redactor {
	t.Helper()
	r, err := redact.New(secrets, patterns)
	if err != nil {
		t.Fatalf("New(%q, %q): %v", secrets, patterns, err)
	}
	return r
}

func TestString(t *testing.T) {
	tests := []struct {
		name     string
		secrets  []string
		patterns []string
		in, want string
	}{
		{
			name:    "every occurrence",
			secrets: []string{"hunter2"},
			in:      "password is hunter2, again hunter2",
			want:    "password is [REDACTED], again [REDACTED]",
		},
		{
			name:    "nothing to redact",
			secrets: []string{"hunter2"},
			in:      "hunter and 2",
			want:    "hunter and 2",
		},
		{
			name:    "longest first",
			secrets: []string{"pass", "password"},
			in:      "password pass",
			want:    "[REDACTED] [REDACTED]",
		},
		{
			name:    "longest first, whatever the order given",
			secrets: []string{"password", "pass"},
			in:      "passpassword",
			want:    "[REDACTED][REDACTED]",
		},
		{
			name:    "empty secret ignored",
			secrets: []string{"", "x1y2"},
			in:      "abc x1y2",
			want:    "abc [REDACTED]",
		},
		{
			name:    "short secrets",
			secrets: []string{"a", "pw", "abc"},
			in:      "a pw abc b",
			want:    "[REDACTED] [REDACTED] [REDACTED] b",
		},
		{
			name:    "query escaped, in a DSN",
			secrets: []string{"p@ss"},
			in:      "postgres://u:p%40ss@h/db",
			want:    "postgres://u:[REDACTED]@h/db",
		},
		{
			name:    "query escaped, space as plus",
			secrets: []string{"p@ss word"},
			in:      "/login?pw=p%40ss+word&x=1",
			want:    "/login?pw=[REDACTED]&x=1",
		},
		{
			name:    "path escaped",
			secrets: []string{"a b/c"},
			in:      "GET /files/a%20b%2Fc",
			want:    "GET /files/[REDACTED]",
		},
		{
			name:    "non-ASCII, query escaped",
			secrets: []string{"pässwörd"},
			in:      "?pw=p%C3%A4ssw%C3%B6rd",
			want:    "?pw=[REDACTED]",
		},
		{
			name:    "JSON escaped quote",
			secrets: []string{`pa"ss`},
			in:      `{"password":"pa\"ss"}`,
			want:    `{"password":"[REDACTED]"}`,
		},
		{
			name:    "JSON escaped, HTML escaping",
			secrets: []string{`<a"b>&`},
			in:      `{"t":"\u003ca\"b\u003e\u0026"}`,
			want:    `{"t":"[REDACTED]"}`,
		},
		{
			name:    "JSON escaped, no HTML escaping",
			secrets: []string{`<a"b>&`},
			in:      `{"t":"<a\"b>&"}`,
			want:    `{"t":"[REDACTED]"}`,
		},
		{
			name:    "JSON escaped newline",
			secrets: []string{"line1\nline2"},
			in:      `{"key":"line1\nline2"} and line1` + "\n" + `line2`,
			want:    `{"key":"[REDACTED]"} and [REDACTED]`,
		},
		{
			name:    "base64",
			secrets: []string{"aladdin:opensesame"},
			in:      "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
			want:    "Authorization: Basic [REDACTED]",
		},
		{
			name:     "pattern: the whole match, capture group or not",
			patterns: []string{`token=(\w+)`},
			in:       "a token=abc123 b",
			want:     "a [REDACTED] b",
		},
		{
			name:     "pattern: every match",
			patterns: []string{`ghp_[A-Za-z0-9]{8}`},
			in:       "ghp_abcd1234 and ghp_ABCD5678.",
			want:     "[REDACTED] and [REDACTED].",
		},
		{
			name:     "patterns: each applies",
			patterns: []string{`AKIA[0-9A-Z]{4}`, `(?i)bearer \S+`},
			in:       "AKIAABCD Bearer xyz",
			want:     "[REDACTED] [REDACTED]",
		},
		{
			name:     "secrets before patterns: a pattern does not split a secret",
			secrets:  []string{"abc123xyz"},
			patterns: []string{`\d+`},
			in:       "abc123xyz 42",
			want:     "[REDACTED] [REDACTED]",
		},
		{
			name:    "a secret inside the placeholder: redacting is idempotent",
			secrets: []string{"E"},
			in:      "[REDACTED] E",
			want:    "[REDACTED] [REDACTED]",
		},
		{
			name:    "overlapping secrets: the one that starts first wins",
			secrets: []string{"abcd", "cdef"},
			in:      "abcdef",
			want:    "[REDACTED]ef",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.secrets, tt.patterns)
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if got := string(r.Bytes([]byte(tt.in))); got != tt.want {
				t.Errorf("Bytes(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if got := r.String(tt.want); got != tt.want {
				t.Errorf("String of its own result %q gave %q", tt.want, got)
			}
		})
	}
}

func TestNewPatternErrors(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // in the error; "" for a pattern New accepts
	}{
		{`(`, "missing closing )"},
		{`a**`, "invalid nested repetition"},
		{``, "empty string"},
		{`a*`, "empty string"},
		{`x?`, "empty string"},
		{`a{0,3}`, "empty string"},
		{`(|a)`, "empty string"},
		{`(?:)`, "empty string"},
		{`\b`, "empty string"},
		{`(?m)^`, "empty string"},
		{`$`, "empty string"},
		{`^a*$`, "empty string"},
		{`a+`, ""},
		{`a{1,3}`, ""},
		{`\bfoo\b`, ""},
		{`(?i)bearer\s+\S+`, ""},
		{`(a|b*)c`, ""},
		{`[^x]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			_, err := redact.New(nil, []string{`ok`, tt.pattern})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New refused %q: %v", tt.pattern, err)
				}
				return
			}
			var pe *redact.PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("New accepted %q, or its error %v is not a *PatternError", tt.pattern, err)
			}
			if pe.Index != 1 || pe.Pattern != tt.pattern {
				t.Errorf("PatternError names pattern %d %q, want 1 %q", pe.Index, pe.Pattern, tt.pattern)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%q", tt.pattern)) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q should name the pattern and say %q", msg, tt.want)
			}
		})
	}
}

func TestActive(t *testing.T) {
	tests := []struct {
		name              string
		secrets, patterns []string
		want              bool
	}{
		{"nothing", nil, nil, false},
		{"only empty secrets", []string{"", ""}, nil, false},
		{"a secret", []string{"s"}, nil, true},
		{"a pattern", nil, []string{"x+"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustNew(t, tt.secrets, tt.patterns).Active(); got != tt.want {
				t.Errorf("Active() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNilRedactor(t *testing.T) {
	var r *redact.Redactor
	if r.Active() {
		t.Error("nil Redactor is active")
	}
	if got := r.String("hunter2"); got != "hunter2" {
		t.Errorf("String = %q", got)
	}
	b := []byte("hunter2")
	if got := r.Bytes(b); &got[0] != &b[0] {
		t.Error("Bytes did not return its argument")
	}
	s := struct{ S string }{"hunter2"}
	r.Walk(&s)
	if s.S != "hunter2" {
		t.Errorf("Walk changed the struct: %v", s)
	}
}

func TestBytesReturnsItsArgument(t *testing.T) {
	r := mustNew(t, []string{"hunter2"}, []string{`tok_\w+`})
	clean := []byte("nothing secret in here")
	if got := r.Bytes(clean); &got[0] != &clean[0] || len(got) != len(clean) {
		t.Error("Bytes copied text that had nothing to redact")
	}
	for _, in := range []string{"pw hunter2", "tok_abc"} {
		b := []byte(in)
		got := r.Bytes(b)
		if string(b) != in {
			t.Errorf("Bytes modified its argument: %q became %q", in, b)
		}
		if &got[0] == &b[0] {
			t.Errorf("Bytes(%q) returned its argument, redacted in place", in)
		}
	}
}

func TestNoAllocationWhenNothingMatches(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector")
	}
	r := benchRedactor(t)
	text := benchText(1<<10, false)
	b := []byte(text)
	if got := r.String(text); got != text {
		t.Fatalf("the text is not clean: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { r.String(text) }); n != 0 {
		t.Errorf("String allocated %v times on text with nothing to redact", n)
	}
	if n := testing.AllocsPerRun(100, func() { r.Bytes(b) }); n != 0 {
		t.Errorf("Bytes allocated %v times on text with nothing to redact", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := mustNew(t, []string{"hunter2"}, []string{`tok_\w+`})
	done := make(chan bool)
	for g := range 8 {
		go func() {
			ok := true
			for i := range 200 {
				in := fmt.Sprintf("%d/%d hunter2 tok_%d", g, i, i)
				want := fmt.Sprintf("%d/%d [REDACTED] [REDACTED]", g, i)
				ok = ok && r.String(in) == want && r.String("clean") == "clean"
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("a goroutine got a wrong result")
		}
	}
}

// benchRedactor has 5 secrets and 2 patterns, as a suite with a few
// credentials and token rules would.
func benchRedactor(t testing.TB) *redact.Redactor {
	return mustNew(t,
		[]string{"hunter2-pg-pass", "redis-s3cret", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AdminAdmin!", "p@ss w0rd"},
		[]string{`ghp_[A-Za-z0-9]{36}`, `AKIA[0-9A-Z]{16}`},
	)
}

// benchText is log-like text of about size bytes; dirty puts a secret or
// a token in every 16th line.
func benchText(size int, dirty bool) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "2025-06-01T12:00:%02d.%03dZ INFO request id=%d path=/api/v1/users/%d status=200 took=%dms\n", i%60, i%1000, i, i*7, i%250)
		if dirty && i%16 == 0 {
			fmt.Fprintf(&b, "DEBUG dsn=postgres://app:hunter2-pg-pass@db/app token=ghp_%036d\n", i)
		}
	}
	return b.String()[:size]
}

func BenchmarkString(b *testing.B) {
	r := benchRedactor(b)
	for _, size := range []int{1 << 10, 1 << 20} {
		for _, dirty := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/clean", size>>10)
			if dirty {
				name = fmt.Sprintf("%dKiB/secrets", size>>10)
			}
			text := benchText(size, dirty)
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for b.Loop() {
					r.String(text)
				}
			})
		}
	}
}

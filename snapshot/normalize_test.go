package snapshot

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var builtinTests = []struct {
	name, in, want string
}{
	// Timestamps.
	{"RFC 3339", "at 2026-11-26T08:39:54Z.", "at <TIME>."},
	{"RFC 3339 nanoseconds", "2026-11-26T08:39:54.123456789Z", "<TIME>"},
	{"RFC 3339 offset", "2026-11-26T08:39:54+01:00 x", "<TIME> x"},
	{"RFC 3339 negative offset, millis", "2026-11-26T08:39:54.561-05:00", "<TIME>"},
	{"ISO offset without colon", "2026-11-26T08:39:54.561+0100", "<TIME>"},
	{"ISO no zone", "2026-11-26T08:39:54", "<TIME>"},
	{"ISO minutes only", "2026-11-26T08:39Z", "<TIME>"},
	{"lowercase t and z", "2026-11-26t08:39:54z", "<TIME>"},
	{"ISO comma fraction (Python logging)", "2026-11-26 08:39:54,561 INFO ok", "<TIME> INFO ok"},
	{"ISO basic", "file-20261126T083954Z.log", "file-<TIME>.log"},
	{"JSON string", `{"at":"2026-11-26T08:39:54.5Z"}`, `{"at":"<TIME>"}`},
	{"PostgreSQL log", "2026-11-26 08:39:54.561 UTC [1] LOG:  ready", "<TIME> [1] LOG:  ready"},
	{"PostgreSQL timestamptz", "2026-11-26 08:39:54.561+00 | x", "<TIME> | x"},
	{"PostgreSQL timestamp", "2026-11-26 08:39:54 | x", "<TIME> | x"},
	{"Go time.Time String", "2026-11-26 08:39:54.5 +0000 UTC m=+0.001234567 done", "<TIME> done"},
	{"Go time.Time String, unnamed zone", "2026-11-26 08:39:54 +0100 +0100", "<TIME>"},
	{"Go log package", "2026/11/26 08:39:54 listening", "<TIME> listening"},
	{"Go log microseconds", "2026/11/26 08:39:54.123456 x", "<TIME> x"},
	{"Redis log", "1:M 26 Nov 2026 08:39:54.776 * Ready to accept connections", "1:M <TIME> * Ready to accept connections"},
	{"HTTP Date", "Date: Thu, 26 Nov 2026 08:39:54 GMT\r\n", "Date: <TIME>\r\n"},
	{"RFC 2822", "Thu, 26 Nov 2026 08:39:54 +0000", "<TIME>"},
	{"date(1)", "Thu Nov 26 08:39:54 UTC 2026\n", "<TIME>\n"},
	{"ANSIC", "Thu Nov  6 08:39:54 2026", "<TIME>"},
	{"syslog keeps the next word", "Nov 26 08:39:54 host INFO x", "<TIME> host INFO x"},
	{"ls -l", "-rw-r--r-- 1 root root 5 Nov 26 08:39 f", "-rw-r--r-- 1 root root 5 <TIME> f"},
	{"access log", `127.0.0.1 - - [26/Nov/2026:08:39:54 +0000] "GET / HTTP/1.1" 200`, `127.0.0.1 - - [<TIME>] "GET / HTTP/1.1" 200`},
	{"access method kept after a zone-less time", "2026-11-26 08:39:54 GET /", "<TIME> GET /"},
	{"timestamps stuck together", "2026-11-26T08:39:54ZNov 26 08:39:54", "<TIME><TIME>"},
	{"time.Time in canonical JSON", Canonical(time.Date(2026, 11, 26, 8, 39, 54, 1, time.UTC)), "\"<TIME>\"\n"},

	// UUIDs.
	{"UUID v4", "id=550e8400-e29b-41d4-a716-446655440000;", "id=<UUID>;"},
	{"UUID v7 upper case", "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", "<UUID>"},
	{"UUID mixed case", "0190a1b2-C3D4-7e5f-8A9B-0c1d2e3f4a5b", "<UUID>"},
	{"nil UUID", "00000000-0000-0000-0000-000000000000", "<UUID>"},
	{"UUID braces and urn", "{550e8400-e29b-41d4-a716-446655440000} urn:uuid:550e8400-e29b-41d4-a716-446655440000", "{<UUID>} urn:uuid:<UUID>"},

	// Container IDs.
	{"container ID", "container 3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e started", "container <CONTAINER> started"},
	{"short container ID", "cleanroom-3f4e5d6c7b8a: up", "cleanroom-<CONTAINER>: up"},
	{"image digest", "sha256:3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e", "sha256:<CONTAINER>"},

	// Durations.
	{"seconds", "took 1.234s", "took <DURATION>"},
	{"milliseconds", "15ms elapsed", "<DURATION> elapsed"},
	{"compound", "2m3.5s", "<DURATION>"},
	{"hours", "uptime 1h0m0s.", "uptime <DURATION>."},
	{"micro sign", "850µs", "<DURATION>"},
	{"greek mu", "850μs", "<DURATION>"},
	{"us", "850us", "<DURATION>"},
	{"nanoseconds", "(12ns)", "(<DURATION>)"},
	{"negative keeps its sign", "-1.5s", "-<DURATION>"},
	{"Go test line", "--- PASS: TestX (0.01s)", "--- PASS: TestX (<DURATION>)"},
	{"duration in JSON", `{"elapsed":"3.2ms"}`, `{"elapsed":"<DURATION>"}`},
	{"together", "2026-11-26T08:39:54Z 550e8400-e29b-41d4-a716-446655440000 took 5ms in 3f4e5d6c7b8a",
		"<TIME> <UUID> took <DURATION> in <CONTAINER>"},

	// Left as they are.
	{"plain integers", "count 42 id 1732610394 big 123456789012", "count 42 id 1732610394 big 123456789012"},
	{"version numbers", "PostgreSQL 15.20 on x86_64, go1.26.8, v1.2.3", "PostgreSQL 15.20 on x86_64, go1.26.8, v1.2.3"},
	{"dates alone", "born 2026-11-26", "born 2026-11-26"},
	{"time of day alone", "opens at 08:39:54", "opens at 08:39:54"},
	{"hex word without digits", "deadbeefcafe", "deadbeefcafe"},
	{"12 digits", "123456789012", "123456789012"},
	{"hex inside a longer word", "x3f4e5d6c7b8a", "x3f4e5d6c7b8a"},
	{"git hash (40 hex)", "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e", "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e"},
	{"upper case hex", "3F4E5D6C7B8A", "3F4E5D6C7B8A"},
	{"13 hex", "3f4e5d6c7b8a9", "3f4e5d6c7b8a9"},
	{"UUID without dashes", "550e8400e29b41d4a716446655440000", "550e8400e29b41d4a716446655440000"},
	{"units inside words", "5sec 3mb 2hours md5s x1s", "5sec 3mb 2hours md5s x1s"},
	{"IP and port", "127.0.0.1:5432 10.0.0.1", "127.0.0.1:5432 10.0.0.1"},
	{"MAC address", "02:42:ac:11:00:02", "02:42:ac:11:00:02"},
	{"month names in prose", "May 5 and Nov 2026", "May 5 and Nov 2026"},
	{"placeholders", "<TIME> <UUID> <DURATION> <CONTAINER> <SESSION> <PORT>", "<TIME> <UUID> <DURATION> <CONTAINER> <SESSION> <PORT>"},
	{"empty", "", ""},
}

func TestBuiltins(t *testing.T) {
	n := NewNormalizer()
	for _, tt := range builtinTests {
		t.Run(tt.name, func(t *testing.T) {
			got := n.String(tt.in)
			if got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if again := n.String(got); again != got {
				t.Errorf("not idempotent: %q, then %q", got, again)
			}
		})
	}
}

func TestLiterals(t *testing.T) {
	const session = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	n := NewNormalizer(
		WithLiteral("32771", "<PORT>"),
		WithLiteral(session, "<SESSION>"),
		WithLiteral(session[24:], "<SESSION-TAIL>"),
		WithLiteral("db-1", "<CONTAINER>"),
		WithLiteral("", "<EMPTY>"), // ignored
		WithLiteral("5432", "<X>"),
		WithLiteral("5432", "<PG>"), // the last one wins
	)
	tests := []struct{ in, want string }{
		{"postgres://u@127.0.0.1:32771/app", "postgres://u@127.0.0.1:<PORT>/app"},
		{"port 132771 and 327710 stay", "port 132771 and 327710 stay"},
		{"session " + session, "session <SESSION>"},
		{"cleanroom-" + session + "-db", "cleanroom-<SESSION>-db"},
		{"net_" + session + "_x", "net_<SESSION>_x"},
		{"cleanroom-build/api:" + session[24:], "cleanroom-build/api:<SESSION-TAIL>"},
		{"x" + session[24:], "x" + session[24:]},
		{"db-1 db-12 xdb-1", "<CONTAINER> db-12 xdb-1"},
		{"5432 and 32771", "<PG> and <PORT>"},
		// Stuck to a timestamp, the port stands alone once that is <TIME>.
		{"2026-11-26T08:39:54Z32771", "<TIME><PORT>"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := n.String(tt.in); got != tt.want {
			t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if got := n.String(tt.want); got != tt.want {
			t.Errorf("not idempotent: %q, then %q", tt.want, got)
		}
	}
}

func TestRules(t *testing.T) {
	n := NewNormalizer(WithRules(
		Rule{Match: regexp.MustCompile(`user-(\d+)`), Replace: "user-<ID:$1>"},
		Rule{}, // no Match: ignored
		// Rules run after the built-ins, so they see placeholders.
		Rule{Match: regexp.MustCompile(`<TIME>`), Replace: "<WHEN>"},
		Rule{Match: regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`), Replace: "<DATE>"},
	))
	got := n.String("user-7 at 2026-11-26T08:39:54Z, born 2000-01-02")
	if want := "user-<ID:7> at <WHEN>, born <DATE>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWithoutBuiltins(t *testing.T) {
	n := NewNormalizer(WithoutBuiltins(), WithLiteral("abc", "<A>"), WithRules(Rule{regexp.MustCompile(`x+`), "x"}))
	if got, want := n.String("abc 2026-11-26T08:39:54Z 15ms xxx"), "<A> 2026-11-26T08:39:54Z 15ms x"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNilNormalizer(t *testing.T) {
	var n *Normalizer
	if got := n.String("15ms"); got != "15ms" {
		t.Errorf("nil Normalizer changed %q", got)
	}
	if got := NewNormalizer(nil).String("15ms"); got != "<DURATION>" {
		t.Errorf("nil Option: %q", got)
	}
}

func TestNormalizeLongInput(t *testing.T) {
	in := strings.Repeat("2026-11-26T08:39:54Z 15ms a1b2c3d4e5f6 ", 2_000)
	got := NewNormalizer().String(in)
	if want := strings.Repeat("<TIME> <DURATION> <CONTAINER> ", 2_000); got != want {
		t.Errorf("long input: got %d bytes, want %d", len(got), len(want))
	}
}

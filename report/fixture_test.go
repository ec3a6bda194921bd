package report

import (
	"flag"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// golden compares got with testdata/name; go test -update rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it; review the diff)\n%s", path, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first line where want and got part.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return "(no line differs)"
}

func ptr[T any](v T) *T { return &v }

// The fixture's clock: times are fixed so the golden files are stable, and
// carry nanoseconds and a zone other than UTC so that the conversions show.
var (
	zone = time.FixedZone("CEST", 2*60*60)
	t0   = time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)
)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// testRun is a run with every status at every level, typed SQL values,
// Redis replies, HTTP output, multi-line diffs, control characters and
// invalid UTF-8.
func testRun() *Run {
	users := &Suite{
		Name:       "users",
		File:       "examples/users.cleanroom.toml",
		Session:    "cr-7f3a9c",
		Seed:       42,
		Status:     Failed,
		Started:    at(0),
		DurationMS: 2345.6789,
		Services: []*Service{
			{Name: "db", Kind: "postgres", Image: "postgres:16", Address: "127.0.0.1:32768", Started: at(1), ReadyMS: 812.5},
			{Name: "cache", Kind: "redis", Image: "redis:7", Address: "127.0.0.1:32769", Started: at(2), ReadyMS: 95},
			{Name: "web", Kind: "generic", Image: "busybox:latest", Address: "127.0.0.1:32770", Started: at(900), ReadyMS: 40.25, Restarts: 1},
		},
		Scenarios: []*Scenario{
			{
				Name: "create user", Status: Passed, Started: at(1000), DurationMS: 31.5, ResetMS: 2.25,
				Steps: []*Step{
					{
						Name: "insert", Kind: "sql", Service: "db", Status: Passed, Started: at(1003), DurationMS: 12.3456, Attempts: 1,
						Output: &Output{
							Rows:         [][]any{{int64(1)}},
							RowsAffected: ptr(int64(1)),
						},
						Captured: map[string]string{"user_id": "1"},
						Pos:      "examples/users.cleanroom.toml:30:1",
					},
					{
						Name: "types", Kind: "sql", Service: "db", Status: Passed, Started: at(1016), DurationMS: 3, Attempts: 1,
						Output: &Output{
							Rows: [][]any{
								{
									int64(math.MaxInt64), uint64(math.MaxUint64), new(big.Int).Lsh(big.NewInt(1), 100),
									0.1, math.NaN(), math.Inf(-1), true, nil,
								},
								{
									[]byte("text"), []byte{0xff, 0x00, 0x01}, "a <b> & c", "bad \xc3\x28 utf-8",
									time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC), 1500 * time.Millisecond,
									map[string]any{"tags": []any{"a", "b"}, "n": 3}, []int32{1, 2, 3},
								},
							},
						},
					},
					{
						Name: "cache it", Kind: "redis", Service: "cache", Status: Passed, Started: at(1020), DurationMS: 0.75, Attempts: 1,
						Output: &Output{Reply: []any{"OK", int64(2), nil, []byte{0xde, 0xad, 0xbe, 0xef}, map[any]any{"k": int64(1)}}},
					},
					{
						Name: "page", Kind: "http", Service: "web", Status: Passed, Started: at(1022), DurationMS: 9.5, Attempts: 1,
						Output: &Output{
							Status:  200,
							Headers: map[string]string{"Content-Type": "text/html", "Content-Length": "24"},
							Body:    "<h1>hello</h1>\n<p>ok</p>\n",
						},
					},
					{
						Name: "empty query", Kind: "sql", Service: "db", Status: Passed, Started: at(1030), DurationMS: 1, Attempts: 1,
						Output: &Output{Rows: [][]any{}},
					},
				},
			},
			{
				Name: "greet", Status: Failed, Started: at(1040), DurationMS: 120, ResetMS: 1.5,
				Steps: []*Step{
					{
						Name: "greet", Kind: "exec", Service: "web", Status: Failed, Started: at(1042), DurationMS: 100, Attempts: 2,
						Output: &Output{
							ExitCode: ptr(3),
							Stdout:   "hello\n\x1b[31mred\x1b[0m\x00\nworld ]]> end\n",
							Stderr:   "warn \xff\xfe\n",
						},
						Failures: []*Failure{
							{
								Check:    "stdout",
								Expected: "hello\nworld\n",
								Got:      "hello\n\x1b[31mred\x1b[0m\x00\nworld ]]> end\n",
								Diff:     "--- expected\n+++ got\n@@ -1,2 +1,3 @@\n hello\n+\x1b[31mred\x1b[0m\x00\n-world\n+world ]]> end\n",
								Pos:      "examples/users.cleanroom.toml:52:10",
							},
							{
								Check:    "exit_code",
								Expected: "0",
								Got:      "3",
								Pos:      "examples/users.cleanroom.toml:52:40",
							},
						},
						Pos: "examples/users.cleanroom.toml:48:1",
					},
					{
						Name: "status", Kind: "http", Service: "web", Status: Failed, Started: at(1143), DurationMS: 8, Attempts: 1,
						Output:   &Output{Status: 500, Body: "oops"},
						Failures: []*Failure{{Check: "status", Expected: "200", Got: "500", Pos: "examples/users.cleanroom.toml:60:12"}},
						Pos:      "examples/users.cleanroom.toml:57:1",
					},
					{Name: "after", Kind: "exec", Service: "web", Status: Skipped, Pos: "examples/users.cleanroom.toml:63:1"},
				},
			},
			{
				Name: "flaky", Status: Errored, Started: at(1200), DurationMS: 5003, ResetMS: 1,
				Steps: []*Step{
					{Name: "warm up", Kind: "exec", Service: "web", Status: Passed, Started: at(1201), DurationMS: 2, Attempts: 1, Output: &Output{ExitCode: ptr(0)}},
					{
						Name: "slow", Kind: "exec", Service: "web", Status: Errored, Started: at(1204), DurationMS: 5000, Attempts: 3,
						Error: "timeout after 5s: context deadline exceeded\ncontainer killed",
						Pos:   "examples/users.cleanroom.toml:70:1",
					},
				},
			},
			{
				Name: "reset", Status: Errored, Started: at(6300), DurationMS: 4, ResetMS: 4,
				Error: "clean state: db: swap in clone: ERROR: database \"app_clone_3\" does not exist (SQLSTATE 3D000)",
				Steps: []*Step{{Name: "never", Kind: "sql", Service: "db", Status: Skipped}},
			},
			{Name: "interrupted", Status: Skipped, Error: "interrupted (SIGINT)"},
			{Name: "naïve <html> & \"quotes\"\x07", Status: Skipped},
		},
	}
	broken := &Suite{
		Name:       "broken",
		File:       "examples/broken.cleanroom.toml",
		Session:    "cr-7f3a9d",
		Seed:       -7,
		Status:     Errored,
		Started:    at(50),
		DurationMS: 30012,
		Services: []*Service{
			{Name: "db", Kind: "postgres", Image: "postgres:16", Started: at(51), ReadyMS: 30000},
		},
		Error: "service db: not ready after 30s: dial tcp 127.0.0.1:32771: connection refused\nlast log line: FATAL:  data directory has wrong ownership",
		Scenarios: []*Scenario{
			{Name: "never ran", Status: Skipped},
		},
	}
	r := &Run{
		Schema:        SchemaVersion,
		Cleanroom:     "v0.1.0",
		Backend:       "docker",
		EngineVersion: "27.5.1",
		Started:       at(-10),
		Finished:      at(30100),
		DurationMS:    30110.0004,
		Suites:        []*Suite{users, broken},
	}
	r.Tally()
	return r
}

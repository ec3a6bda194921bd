package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// recorder stands in for the *testing.T of a test that uses Match, so
// that its failures can be looked at instead of failing this test.
type recorder struct {
	testing.TB // only for the methods Match does not use
	name       string
	mu         sync.Mutex
	errors     []string
	logs       []string
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Helper()      {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func matchEnv(t *testing.T, update, ci string) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(UpdateEnv, update)
	t.Setenv("CI", ci)
	return dir
}

func TestMatchLifecycle(t *testing.T) {
	dir := matchEnv(t, "", "")
	path := filepath.Join(dir, DirName, "TestAPI.snap")
	body := map[string]any{"id": "550e8400-e29b-41d4-a716-446655440000", "name": "ada", "at": "2026-11-26T08:39:54Z"}

	// Created.
	r := &recorder{TB: t, name: "TestAPI/create"}
	Match(r, "body", body)
	if len(r.errors) != 0 || len(r.logs) != 1 || !strings.Contains(r.logs[0], "created") {
		t.Fatalf("create: errors %q, logs %q", r.errors, r.logs)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.Get("TestAPI/create/body")
	if want := "{\n  \"at\": \"<TIME>\",\n  \"id\": \"<UUID>\",\n  \"name\": \"ada\"\n}\n"; got != want {
		t.Fatalf("stored %q, want %q", got, want)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), goTestSignature+":") {
		t.Errorf("file does not say it is go test's:\n%s", data)
	}

	// Matched, with other volatile values.
	body["id"], body["at"] = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "2027-01-01T00:00:00.5+01:00"
	r = &recorder{TB: t, name: "TestAPI/create"}
	Match(r, "body", body)
	if len(r.errors)+len(r.logs) != 0 {
		t.Fatalf("match: errors %q, logs %q", r.errors, r.logs)
	}

	// Mismatch fails with a diff and leaves the file alone.
	body["name"] = "bob"
	r = &recorder{TB: t, name: "TestAPI/create"}
	Match(r, "body", body)
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "-  \"name\": \"ada\"\n+  \"name\": \"bob\"") ||
		!strings.Contains(r.errors[0], UpdateEnv+"=1") || !strings.Contains(r.errors[0], filepath.Join(DirName, "TestAPI.snap")) {
		t.Fatalf("mismatch: errors %q", r.errors)
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Errorf("mismatch changed the file")
	}

	// Update rewrites.
	t.Setenv(UpdateEnv, "1")
	r = &recorder{TB: t, name: "TestAPI/create"}
	Match(r, "body", body)
	if len(r.errors) != 0 || len(r.logs) != 1 || !strings.Contains(r.logs[0], "updated") {
		t.Fatalf("update: errors %q, logs %q", r.errors, r.logs)
	}
	f, _ = Open(path)
	if got, _ := f.Get("TestAPI/create/body"); !strings.Contains(got, "bob") {
		t.Errorf("after update: %q", got)
	}
}

func TestMatchMissingInCI(t *testing.T) {
	dir := matchEnv(t, "", "true")
	r := &recorder{TB: t, name: "TestNew"}
	Match(r, "out", "hello\n")
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], "missing") || !strings.Contains(r.errors[0], UpdateEnv+"=1") {
		t.Fatalf("errors %q", r.errors)
	}
	if _, err := os.Stat(filepath.Join(dir, DirName)); !os.IsNotExist(err) {
		t.Errorf("CI wrote a snapshot: %v", err)
	}
	// With the update switch, CI may write.
	t.Setenv(UpdateEnv, "true")
	r = &recorder{TB: t, name: "TestNew"}
	Match(r, "out", "hello\n")
	if len(r.errors) != 0 {
		t.Fatalf("errors %q", r.errors)
	}
}

func TestMatchValues(t *testing.T) {
	matchEnv(t, "", "")
	r := &recorder{TB: t, name: "TestValues"}
	Match(r, "string", "took 15ms\n")
	Match(r, "bytes", []byte("raw \x00"))
	Match(r, "rows", [][]any{{int64(1), "user-7"}}, WithRules(Rule{regexp.MustCompile(`user-\d+`), "<USER>"}))
	Match(r, "literal", "port 32771", WithLiteral("32771", "<PORT>"), WithoutBuiltins())
	if len(r.errors) != 0 {
		t.Fatal(r.errors)
	}
	f, err := Open(filepath.Join(DirName, "TestValues.snap"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TestValues/string":  "took <DURATION>\n",
		"TestValues/bytes":   "raw \x00",
		"TestValues/rows":    "[\n  [\n    1,\n    \"<USER>\"\n  ]\n]\n",
		"TestValues/literal": "port <PORT>",
	}
	for n, w := range want {
		if got, _ := f.Get(n); got != w {
			t.Errorf("%s = %q, want %q", n, got, w)
		}
	}
}

// Parallel subtests share one file; every entry must arrive.
func TestMatchParallel(t *testing.T) {
	dir := matchEnv(t, "", "")
	const n = 40
	var wg sync.WaitGroup
	recs := make([]*recorder, n)
	for i := range n {
		recs[i] = &recorder{TB: t, name: fmt.Sprintf("TestPar/case_%02d", i)}
		wg.Go(func() { Match(recs[i], "v", fmt.Sprintf("value %d\n", i)) })
	}
	wg.Wait()
	for _, r := range recs {
		if len(r.errors) != 0 {
			t.Fatal(r.errors)
		}
	}
	f, err := Open(filepath.Join(dir, DirName, "TestPar.snap"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.Names()); got != n {
		t.Errorf("%d entries, want %d", got, n)
	}
}

func TestMatchMalformedFile(t *testing.T) {
	dir := matchEnv(t, "", "")
	path := filepath.Join(dir, DirName, "TestBad.snap")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t, name: "TestBad"}
	Match(r, "x", "y")
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], path+":1:") {
		t.Fatalf("errors %q", r.errors)
	}
}

// Match with a real *testing.T, as a user writes it: the snapshot of this
// test is committed in __snapshots__/TestMatchReal.snap.
func TestMatchReal(t *testing.T) {
	t.Setenv("CI", "true") // the committed snapshot must be there
	for _, tc := range []struct{ name, in string }{
		{"greeting", "hello, world\n"},
		{"log", "2026-11-26T08:39:54Z request 550e8400-e29b-41d4-a716-446655440000 took 15ms\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Match(t, "out", tc.in)
		})
	}
}

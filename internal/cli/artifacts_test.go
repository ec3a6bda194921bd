package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/artifact"
)

// TestArtifactsOfAFailingRun: a failing scenario leaves, in the run's
// output folder, both reports, the audit log, each step's output, each
// service's log and the files its services name in artifacts, all listed in
// index.json and linked from the reports; a secret is in none of them; and
// `cleanroom runs prune` keeps the newest.
func TestArtifactsOfAFailingRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	path := writeSuite(t, dir, "arts", `name = "arts"

[policy]
secrets = ["APP_TOKEN"]

[services.app]
type = "generic"
image = "busybox:latest"
command = ["sh", "-c", "echo booting with $APP_TOKEN; echo up; mkdir -p /var/log; while true; do echo tick >> /var/log/app.log; sleep 0.2; done"]
env = { APP_TOKEN = "tok-art-9191" }
wait = { log = "up" }
artifacts = ["/var/log/app.log", "/etc/hostname"]

[[scenario]]
name = "passes"

[[scenario.step]]
name = "hello"
service = "app"
exec = ["echo", "hello"]

[[scenario]]
name = "fails"

[[scenario.step]]
name = "wrong"
service = "app"
exec = ["sh", "-c", "echo token is $APP_TOKEN"]
expect = { stdout = "nope\n" }
`)
	runs := filepath.Join(dir, "runs")
	out := filepath.Join(runs, "20261126T000000Z-test")
	code, stdout, stderr := runCLI(t, "run", "--out", out, path)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	var idx struct{ Artifacts []artifact.Entry }
	b, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	kinds := map[string][]string{}
	for _, e := range idx.Artifacts {
		kinds[e.Kind] = append(kinds[e.Kind], e.Path)
		data, err := os.ReadFile(filepath.Join(out, e.Path))
		if err != nil {
			t.Errorf("index lists %s, which is not there: %v", e.Path, err)
		}
		if strings.Contains(string(data), "tok-art-9191") {
			t.Errorf("%s holds the secret", e.Path)
		}
	}
	want := map[string][]string{
		"report":      {"ctrf.json", "junit.xml", "report.html", "report.json"},
		"audit":       {"audit.jsonl"},
		"service-log": {"arts/services/app.log"},
		"step-output": {"arts/fails/01-wrong.txt", "arts/passes/01-hello.txt"},
		// Collected after the failed scenario only (collect defaults to
		// on-failure).
		"file": {"arts/fails/files/app/etc/hostname", "arts/fails/files/app/var/log/app.log"},
	}
	for kind, paths := range want {
		if strings.Join(kinds[kind], " ") != strings.Join(paths, " ") {
			t.Errorf("%s artifacts %q, want %q", kind, kinds[kind], paths)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "arts/fails/files/app/var/log/app.log")); !strings.Contains(string(b), "tick") {
		t.Errorf("copied app.log: %q", b)
	}
	logText, _ := os.ReadFile(filepath.Join(out, "arts/services/app.log"))
	if !strings.Contains(string(logText), "booting with [REDACTED]") {
		t.Errorf("service log: %q, want its output redacted", logText)
	}
	// Each line carries the engine's timestamp.
	if first, _, _ := strings.Cut(string(logText), " "); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`).MatchString(first) {
		t.Errorf("service log line %q: want it to start with a timestamp", first)
	}
	run := readReport(t, filepath.Join(out, "report.json"))
	s := run.Suites[0]
	if s.Services[0].Log != "arts/services/app.log" || s.Scenarios[1].Steps[0].OutputFile != "arts/fails/01-wrong.txt" || len(s.Scenarios[1].Artifacts) != 2 {
		t.Errorf("JSON report links: log %q, output %q, artifacts %q", s.Services[0].Log, s.Scenarios[1].Steps[0].OutputFile, s.Scenarios[1].Artifacts)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "junit.xml")); !strings.Contains(string(b), "[[ATTACHMENT|arts/fails/files/app/var/log/app.log]]") {
		t.Errorf("JUnit report does not attach the collected file:\n%s", b)
	}

	// Prune keeps the newest.
	older := filepath.Join(runs, "20251126T000000Z-old")
	if err := os.MkdirAll(older, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(older, "index.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCLI(t, "runs", "prune", "--keep", "1", "--dir", runs)
	if code != exitPassed || !strings.Contains(stdout, "1 run folder removed") {
		t.Fatalf("prune: exit %d\n%s", code, stdout)
	}
	if _, err := os.Stat(older); !os.IsNotExist(err) {
		t.Errorf("the older run folder is still there")
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the newest run folder went: %v", err)
	}
}

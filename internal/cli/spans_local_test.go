package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/report"
)

// TestSpanAssertionsLocal: on the local backend the environment's OTLP
// receiver listens inside the session's network namespace, the only place
// its services can reach, and the same assertions hold against the otelapp
// fixture built as a program of this machine.
func TestSpanAssertionsLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	// Not under /tmp: a sandbox sees its own empty /tmp.
	bin, err := os.MkdirTemp(".", ".otelapp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	app, err := filepath.Abs(filepath.Join(bin, "otelapp"))
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", app, "github.com/cleanroomhq/cleanroom/internal/fixtures/otelapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build otelapp: %v\n%s", err, out)
	}
	dir := t.TempDir()
	path := writeSuite(t, dir, "spans", `name = "spans-local"

[services.app]
type = "generic"
command = ["`+app+`"]
ports = [8080]
wait = { http = "/healthz", port = 8080 }

[[scenario]]
name = "holds"

[[scenario.step]]
name = "list users"
http = { service = "app", path = "/users" }
expect = { status = 200, spans = [
  { name = "GET /users", attributes = { "http.route" = "/users" }, status = "ok", count = 1 },
  { name = "handler", parent = "GET /users" },
  { name = "persist", count = 0 },
] }

[[scenario.step]]
name = "a wrong expectation fails"
http = { service = "app", path = "/users" }
expect = { spans = [{ name = "cache.get" }] }
`)
	jsonPath := filepath.Join(dir, "r.json")
	code, stdout, stderr := runCLI(t, "run", "--backend", "local", "--report-json", jsonPath, path)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (the second step fails)\n%s\n%s", code, stdout, stderr)
	}
	run := readReport(t, jsonPath)
	if run.Backend != "local" {
		t.Fatalf("backend %q, want local", run.Backend)
	}
	steps := run.Suites[0].Scenarios[0].Steps
	if steps[0].Status != report.Passed {
		t.Fatalf("list users: %s, want passed\n%s", steps[0].Status, stdout)
	}
	if steps[1].Status != report.Failed || len(steps[1].Failures) != 1 {
		t.Fatalf("a wrong expectation: %s with %d failures, want failed with 1\n%s", steps[1].Status, len(steps[1].Failures), stdout)
	}
	b, err := local.New()
	if err != nil {
		t.Fatal(err)
	}
	if cs, ns := b.Resources(run.Suites[0].Session); len(cs)+len(ns) > 0 {
		t.Errorf("session %s left containers %v and networks %v", run.Suites[0].Session, cs, ns)
	}
}

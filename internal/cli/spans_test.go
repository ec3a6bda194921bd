package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/report"
)

// TestSpanAssertions: an instrumented app (the otelapp fixture) exports to
// the environment's receiver on its own — it is told where by
// OTEL_EXPORTER_OTLP_ENDPOINT, on the default isolated network — and steps
// assert on the spans it sent while they ran: names, attributes, parents,
// counts, status, order and absent attributes. Wrong expectations fail
// with what arrived instead.
func TestSpanAssertions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	path := writeSuite(t, dir, "spans", `name = "spans"

[services.app]
type = "generic"
image = "cleanroom-fixtures/otelapp:1"
ports = [8080]
wait = { http = "/healthz", port = 8080 }

[[scenario]]
name = "holds"

[[scenario.step]]
name = "list users"
http = { service = "app", path = "/users" }
expect = { status = 200, spans = [
  { name = "GET /users", attributes = { "http.response.status_code" = 200, "http.route" = "/users" }, status = "ok", count = 1, no_attributes = ["secret.token"] },
  { name = "handler", parent = "GET /users" },
  { name = "db.query", parent = "handler", attributes = { "db.system" = "postgresql" } },
  { name = "persist", count = 0 },
] }

[[scenario.step]]
name = "order"
http = { service = "app", method = "POST", path = "/orders", body = '{"items": ["book", "pen"]}' }
expect = { status = 201, spans = [
  { name = "validate", before = "persist" },
  { name = "persist", after = "validate" },
  { name = "POST /orders", attributes = { "order.items" = 2 } },
] }

[[scenario.step]]
name = "missing user"
http = { service = "app", path = "/users/404" }
expect = { status = 404, spans = [{ name = "GET /users/{id}", status = "error" }] }

[[scenario]]
name = "fails"

[[scenario.step]]
name = "wrong expectations"
http = { service = "app", path = "/users" }
expect = { spans = [
  { name = "GET /users", attributes = { "http.response.status_code" = 500 } },
  { name = "cache.get" },
  { name = "db.query", before = "handler" },
  { name = "handler", count = 0 },
] }
`)
	jsonPath := filepath.Join(dir, "r.json")
	code, stdout, stderr := runCLI(t, "run", "--report-json", jsonPath, path)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (the second scenario fails)\n%s\n%s", code, stdout, stderr)
	}
	s := readReport(t, jsonPath).Suites[0]
	if sc := s.Scenarios[0]; sc.Status != report.Passed {
		t.Fatalf("holds: %s\n%s", sc.Status, stdout)
	}
	fails := s.Scenarios[1].Steps[0].Failures
	if len(fails) != 4 {
		t.Fatalf("wrong expectations: %d failures, want 4:\n%s", len(fails), stdout)
	}
	for i, want := range []string{
		"no span \"GET /users\" has http.response.status_code = 500; they have 200",
		"no span named \"cache.get\" among",
		"no span \"handler\" starts after every matching span ended",
		"1 span(s) named \"handler\"",
	} {
		if !strings.Contains(fails[i].Got, want) {
			t.Errorf("failure %d: got %q, want it to say %q", i, fails[i].Got, want)
		}
	}
}

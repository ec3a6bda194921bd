package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCoverageOfAService: a Go service built with -cover (the otelapp
// fixture) and marked coverage = true is stopped gracefully at the end of
// the suite; its counters become a coverage.out in the output folder and a
// per-package percentage above zero in the report.
func TestCoverageOfAService(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	path := writeSuite(t, dir, "covered", `name = "covered"

[services.app]
type = "generic"
image = "cleanroom-fixtures/otelapp:1"
ports = [8080]
wait = { http = "/healthz", port = 8080 }
coverage = true
policy = { user = "65534" }

[[scenario]]
name = "exercise"

[[scenario.step]]
name = "users"
http = { service = "app", path = "/users" }
expect = { status = 200 }

[[scenario.step]]
name = "order"
http = { service = "app", method = "POST", path = "/orders", body = '{"items": ["a"]}' }
expect = { status = 201 }
`)
	out := filepath.Join(dir, "out")
	jsonPath := filepath.Join(dir, "r.json")
	code, stdout, stderr := runCLI(t, "run", "--out", out, "--report-json", jsonPath, path)
	if code != exitPassed {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	cov := readReport(t, jsonPath).Suites[0].Services[0].Coverage
	if cov == nil || cov.Error != "" || len(cov.Packages) == 0 {
		t.Fatalf("coverage %+v: want packages", cov)
	}
	p := cov.Packages[0]
	if !strings.HasSuffix(p.Package, "internal/fixtures/otelapp") || p.Percent <= 0 || p.Percent > 100 {
		t.Errorf("package coverage %+v: want the app's package above zero", p)
	}
	b, err := os.ReadFile(filepath.Join(out, cov.Profile))
	if err != nil || !strings.HasPrefix(string(b), "mode: ") || !strings.Contains(string(b), "internal/fixtures/otelapp/handler.go") {
		t.Errorf("profile %s: %v\n%.300s", cov.Profile, err, b)
	}
}

package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cleanroomhq/cleanroom/internal/ctrfschema"
)

// TestRunCTRFMatchesPublishedSchema: the CTRF of a real run — --report-ctrf,
// ctrf.json in the output folder, and `cleanroom report --format ctrf` of its
// JSON report — passes the schema CTRF publishes (scripts/ctrf-schema.sh
// fetches it; report/ctrf_schema_test.go checks the rest of the format).
func TestRunCTRFMatchesPublishedSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	sch := publishedCTRFSchema(t)
	dir := t.TempDir()
	path := writeSuite(t, dir, "ctrf", `name = "ctrf"

[services.box]
type = "generic"
image = "busybox:latest"
command = ["sh", "-c", "mkdir -p /var/log; echo started > /var/log/box.log; echo up; exec sleep 3600"]
wait = { log = "up" }
artifacts = ["/var/log/box.log"]

[[scenario]]
name = "passes after retries"

[[scenario.step]]
name = "third time lucky"
service = "box"
exec = ["sh", "-c", "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; [ $n -ge 3 ]"]
retries = 3
retry_delay = "10ms"

[[scenario]]
name = "fails"

[[scenario.step]]
name = "wrong output"
service = "box"
exec = ["echo", "two"]
expect = { stdout = "one\n" }

[[scenario.step]]
name = "skipped after the failure"
service = "box"
exec = ["true"]
`)
	out := filepath.Join(dir, "out")
	ctrf := filepath.Join(dir, "report.ctrf.json")
	if code, stdout, stderr := runCLI(t, "run", "--out", out, "--report-ctrf", ctrf, path); code != exitFailed {
		t.Fatalf("run: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	converted := filepath.Join(dir, "converted.ctrf.json")
	if code, stdout, stderr := runCLI(t, "report", filepath.Join(out, reportJSONName), "--format", "ctrf", "-o", converted); code != exitPassed {
		t.Fatalf("report --format ctrf: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, p := range []string{ctrf, filepath.Join(out, reportCTRFName), converted} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s does not match CTRF's schema:\n%v", p, err)
		}
		// What the schema cannot say: the run's parts all made it in.
		tests := doc.(map[string]any)["results"].(map[string]any)["tests"].([]any)
		if len(tests) != 2 {
			t.Fatalf("%s: %d tests, want 2", p, len(tests))
		}
		passed, failed := tests[0].(map[string]any), tests[1].(map[string]any)
		if passed["status"] != "passed" || passed["retries"] == nil || failed["status"] != "failed" ||
			len(failed["steps"].([]any)) != 2 || len(failed["attachments"].([]any)) < 2 {
			t.Errorf("%s: tests %v", p, tests)
		}
	}
}

// publishedCTRFSchema is CTRF's published schema (internal/ctrfschema).
func publishedCTRFSchema(t *testing.T) *jsonschema.Schema { return ctrfschema.Load(t) }

package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRedactionEverywhere runs a suite whose steps print secrets in every
// way a step can (stdout, stderr, a DSN, SQL rows and errors, a Redis reply,
// an HTTP body, an error message, an expectation, a crashed service's log,
// a value from the runner's own environment) and scans every byte the
// run wrote: console output, both reports, and every file of its output
// folder. The placeholder must be there (the secrets really were printed)
// and the secrets nowhere.
func TestRedactionEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	t.Setenv("CLEANROOM_TEST_ENV_SECRET", "env-Secret-4242")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	jsonPath, junitPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.xml")
	code, stdout, stderr := runCLI(t, "run", "-v", "--out", out, "--report-json", jsonPath, "--report-junit", junitPath, "testdata/redact")
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d (steps fail on purpose)\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	written := map[string]string{"stdout": stdout, "stderr": stderr}
	for _, p := range []string{jsonPath, junitPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		written[p] = string(b)
	}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		written[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"s3cr3t-Token-7781", "pg-Pass-5150", "tok-0123abcd", "env-Secret-4242"}
	for name, text := range written {
		for _, s := range secrets {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s holds secret %q: …%s…", name, s, text[max(0, i-80):min(len(text), i+len(s)+40)])
			}
		}
	}
	report := written[jsonPath]
	if n := strings.Count(report, "[REDACTED]"); n < 10 {
		t.Errorf("the JSON report has %d redactions, want one per leak (at least 10):\n%s", n, report)
	}
	// The crashed service's log tail is in the step's error, redacted.
	if !strings.Contains(report, "dying with [REDACTED]") {
		t.Errorf("the JSON report lacks the crashed service's redacted log tail")
	}
	if !strings.Contains(stdout, "[REDACTED]") {
		t.Errorf("the console shows no redaction; was anything printed?\n%s", stdout)
	}
}

package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/internal/browsertest"
	"github.com/cleanroomhq/cleanroom/report"
)

// TestRunHTMLReportInBrowser: the HTML report of a real run, passed and
// failed scenarios, with image digests from the engine, opened in headless
// Chromium (scripts/browser.sh), says what the JSON report of the same run
// says; so does the page `cleanroom report --format html` makes of that JSON.
func TestRunHTMLReportInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	browsertest.Chromium(t)
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	code, stdout, stderr := runCLI(t, "run", "--report-json", jsonPath, "--report-html", htmlPath,
		"../../examples/quickstart", "testdata/run/failing.cleanroom.toml")
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d (the failing suite fails)\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	run := readReport(t, jsonPath)
	assertNoSessionLeft(t, run)
	if run.Summary.Passed == 0 || run.Summary.Failed == 0 || run.Summary.Steps.Skipped == 0 {
		t.Fatalf("summary %+v: want passed and failed scenarios and skipped steps to compare", run.Summary)
	}
	digests := 0
	for _, s := range run.Suites {
		for _, sv := range s.Services {
			if strings.HasPrefix(sv.ImageID, "sha256:") {
				digests++
			}
		}
	}
	if digests == 0 {
		t.Fatal("no service of the run has an image digest")
	}

	_, doc := browsertest.DumpDOM(t, htmlPath, browsertest.Window, browsertest.WindowHeight)
	browsertest.CheckReportPage(t, run, doc)
	browsertest.CheckReportRendering(t, htmlPath)

	converted := filepath.Join(dir, "converted.html")
	if code, stdout, stderr := runCLI(t, "report", jsonPath, "--format", report.FormatHTML, "-o", converted); code != 0 {
		t.Fatalf("cleanroom report: exit %d\n%s%s", code, stdout, stderr)
	}
	_, doc = browsertest.DumpDOM(t, converted, browsertest.Window, browsertest.WindowHeight)
	browsertest.CheckReportPage(t, run, doc)
}

package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportConvert: a saved JSON report becomes JUnit or CTRF afterwards.
func TestReportConvert(t *testing.T) {
	dir := t.TempDir()
	src := "../../report/testdata/run.json"
	ctrf, junit := filepath.Join(dir, "ctrf.json"), filepath.Join(dir, "junit.xml")
	if code, stdout, stderr := runCLI(t, "report", src, "--format", "ctrf", "-o", ctrf); code != exitPassed || !strings.Contains(stdout, "wrote") {
		t.Fatalf("ctrf: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var doc struct {
		ReportFormat string `json:"reportFormat"`
		Results      struct {
			Tests []struct{ Name, Status string } `json:"tests"`
		} `json:"results"`
	}
	b, _ := os.ReadFile(ctrf)
	if err := json.Unmarshal(b, &doc); err != nil || doc.ReportFormat != "CTRF" || len(doc.Results.Tests) == 0 {
		t.Errorf("CTRF: %v, %+v", err, doc)
	}
	if code, _, stderr := runCLI(t, "report", src, "--format", "junit", "-o", junit); code != exitPassed {
		t.Fatalf("junit: exit %d\n%s", code, stderr)
	}
	b, _ = os.ReadFile(junit)
	var x struct{ XMLName xml.Name }
	if err := xml.Unmarshal(b, &x); err != nil || x.XMLName.Local != "testsuites" {
		t.Errorf("JUnit: %v, root %q", err, x.XMLName.Local)
	}
	if code, _, stderr := runCLI(t, "report", src, "--format", "pdf", "-o", junit); code != exitInvalid || !strings.Contains(stderr, "--format must be") {
		t.Errorf("unknown format: exit %d, %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "report", filepath.Join(dir, "missing.json"), "-o", junit); code != exitInvalid {
		t.Errorf("missing report: exit %d, want %d", code, exitInvalid)
	}
}

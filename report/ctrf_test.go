package report

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"testing"
)

// TestCTRF checks the report against the rules of CTRF's schema 0.0.0
// (ctrf.io): the required fields at each level, the status values, suite
// as a list, attachments with name, contentType and path, and no field the
// schema does not define (it forbids additional properties).
func TestCTRF(t *testing.T) {
	r := testRun()
	r.Suites[0].Scenarios[0].Steps[0].OutputFile = "users/create/01-insert.txt"
	r.Suites[0].Scenarios[1].Artifacts = []string{"users/s/files/app/var/log/app.log"}
	var buf bytes.Buffer
	if err := WriteCTRF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	only := func(where string, m map[string]any, allowed, required []string) {
		t.Helper()
		for _, k := range keys(m) {
			if !slices.Contains(allowed, k) {
				t.Errorf("%s: field %q is not in the schema", where, k)
			}
		}
		for _, k := range required {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: required field %q missing", where, k)
			}
		}
	}
	only("report", doc, []string{"reportFormat", "specVersion", "reportId", "timestamp", "generatedBy", "results", "extra"}, []string{"results", "reportFormat", "specVersion"})
	if doc["reportFormat"] != "CTRF" || !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(doc["specVersion"].(string)) ||
		!regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(doc["reportId"].(string)) {
		t.Errorf("report header: %v %v %v", doc["reportFormat"], doc["specVersion"], doc["reportId"])
	}
	results := doc["results"].(map[string]any)
	only("results", results, []string{"tool", "summary", "tests", "environment", "extra"}, []string{"tool", "summary", "tests"})
	only("summary", results["summary"].(map[string]any), []string{"tests", "passed", "failed", "skipped", "pending", "other", "flaky", "suites", "start", "stop", "duration", "extra"},
		[]string{"tests", "passed", "failed", "skipped", "pending", "other", "start", "stop"})
	only("environment", results["environment"].(map[string]any), []string{"reportName", "appName", "appVersion", "buildId", "buildName", "buildNumber", "buildUrl", "repositoryName", "repositoryUrl", "commit", "branchName", "osPlatform", "osRelease", "osVersion", "testEnvironment", "extra"}, nil)
	testFields := []string{"id", "name", "status", "duration", "start", "stop", "suite", "message", "trace", "snippet", "ai", "line", "rawStatus", "tags", "type", "filePath", "retries", "retryAttempts", "flaky", "stdout", "stderr", "threadId", "browser", "device", "screenshot", "attachments", "parameters", "steps", "insights", "extra"}
	statuses := []string{"passed", "failed", "skipped", "pending", "other"}
	tests := results["tests"].([]any)
	sum := results["summary"].(map[string]any)
	if int(sum["tests"].(float64)) != len(tests) {
		t.Errorf("summary counts %v tests, the report has %d", sum["tests"], len(tests))
	}
	attachments := 0
	for i, x := range tests {
		tc := x.(map[string]any)
		only("test", tc, testFields, []string{"name", "status", "duration"})
		if !slices.Contains(statuses, tc["status"].(string)) {
			t.Errorf("test %d: status %q", i, tc["status"])
		}
		if s, ok := tc["suite"].([]any); !ok || len(s) == 0 {
			t.Errorf("test %d: suite %v, want a non-empty list", i, tc["suite"])
		}
		steps, _ := tc["steps"].([]any)
		for _, s := range steps {
			st := s.(map[string]any)
			only("step", st, []string{"name", "status", "extra"}, []string{"name", "status"})
			if !slices.Contains(statuses, st["status"].(string)) {
				t.Errorf("test %d: step status %q", i, st["status"])
			}
		}
		if as, ok := tc["attachments"].([]any); ok {
			for _, a := range as {
				only("attachment", a.(map[string]any), []string{"name", "contentType", "path", "extra"}, []string{"name", "contentType", "path"})
				attachments++
			}
		}
	}
	if attachments != 2 {
		t.Errorf("%d attachments, want the step output and the collected file", attachments)
	}
}

package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cleanroomhq/cleanroom/internal/ctrfschema"
)

// ctrfSchema is CTRF's published schema (internal/ctrfschema).
func ctrfSchema(t *testing.T) *jsonschema.Schema { return ctrfschema.Load(t) }

// ctrfDoc writes r as CTRF and decodes it the way the validator reads JSON.
func ctrfDoc(t *testing.T, r *Run) any {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCTRF(&buf, r); err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// richRun is testRun with everything CTRF has a field for: step outputs
// and collected files as attachments, retries, a flaky step, an errored
// scenario (CTRF's "other"), skipped ones, a scenario that never started.
func richRun() *Run {
	r := testRun()
	users := r.Suites[0]
	users.Scenarios[0].Steps[0].OutputFile = "users/create-user/01-insert.txt"
	users.Scenarios[1].Steps[0].OutputFile = "users/greet/01-greet.txt"
	users.Scenarios[1].Artifacts = []string{"users/greet/files/web/var/log/app.log", "users/greet/files/web/etc/hostname"}
	users.Scenarios[2].Steps[0].Flaky = &Flaky{Runs: 3, Differing: []int{2}, Diff: "--- run 1\n+++ run 2\n-a\n+b\n"}
	r.Tally()
	return r
}

// TestCTRFMatchesPublishedSchema validates the CTRF cleanroom writes
// against the schema CTRF publishes, for a run with every status and
// feature, a run read back from a saved JSON report (what `cleanroom
// report --format ctrf` converts), and the edge cases of an empty and an
// unfinished run.
func TestCTRFMatchesPublishedSchema(t *testing.T) {
	sch := ctrfSchema(t)
	saved := func() *Run {
		f, err := os.Open("testdata/run.json")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := ReadJSON(f)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name string
		run  func() *Run
	}{
		{"rich", richRun},
		{"saved JSON report", saved},
		{"no suites", func() *Run {
			return &Run{Schema: SchemaVersion, Cleanroom: "v0.1.0", Backend: "docker", Started: t0, Finished: t0}
		}},
		{"unfinished", func() *Run {
			return &Run{Suites: []*Suite{{Name: "s", Scenarios: []*Scenario{{Name: "x", Status: Errored, Steps: []*Step{{Status: Errored}}}}}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := ctrfDoc(t, tt.run())
			if err := sch.Validate(doc); err != nil {
				t.Errorf("CTRF report does not match CTRF's schema:\n%v", err)
			}
			checkCTRFSummary(t, doc.(map[string]any))
		})
	}
}

// checkCTRFSummary: the summary counts the tests as CTRF's reference
// implementation does (calculateSummary): by status, and the flaky ones.
func checkCTRFSummary(t *testing.T, doc map[string]any) {
	t.Helper()
	want := map[string]int{"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "pending": 0, "other": 0, "flaky": 0}
	for _, x := range results(doc)["tests"].([]any) {
		tc := x.(map[string]any)
		want["tests"]++
		want[tc["status"].(string)]++
		if tc["flaky"] == true {
			want["flaky"]++
		}
	}
	sum := results(doc)["summary"].(map[string]any)
	for k, n := range want {
		got, ok := sum[k].(json.Number)
		if !ok && k == "flaky" && n == 0 {
			continue // left out when there are none
		}
		if got.String() != strconv.Itoa(n) {
			t.Errorf("summary.%s = %v, the tests say %d", k, sum[k], n)
		}
	}
}

// TestCTRFSchemaRejects proves the validation above can fail: documents
// that break the schema in one place each are rejected, for that reason.
func TestCTRFSchemaRejects(t *testing.T) {
	sch := ctrfSchema(t)
	tests := []struct {
		name    string
		mutate  func(doc map[string]any)
		keyword string // the schema keyword that must reject it
	}{
		{"report format", func(d map[string]any) { d["reportFormat"] = "ctrf" }, "const"},
		{"spec version", func(d map[string]any) { d["specVersion"] = "0.0" }, "pattern"},
		{"report ID", func(d map[string]any) { d["reportId"] = "run-1" }, "format"},
		{"timestamp", func(d map[string]any) { d["timestamp"] = "2025-06-01 12:00" }, "format"},
		{"no summary", func(d map[string]any) { delete(results(d), "summary") }, "required"},
		{"test status", func(d map[string]any) { test0(d)["status"] = "error" }, "enum"},
		{"fractional duration", func(d map[string]any) { test0(d)["duration"] = 31.5 }, "type"},
		{"unknown test field", func(d map[string]any) { test0(d)["session"] = "cr-1" }, "additionalProperties"},
		{"attachment without path", func(d map[string]any) {
			delete(test0(d)["attachments"].([]any)[0].(map[string]any), "path")
		}, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := ctrfDoc(t, richRun())
			if err := sch.Validate(doc); err != nil {
				t.Fatalf("the unchanged document is already invalid: %v", err)
			}
			tt.mutate(doc.(map[string]any))
			err := sch.Validate(doc)
			var verr *jsonschema.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("accepted (error %v), want it rejected by %q", err, tt.keyword)
			}
			if kws := failedKeywords(verr.BasicOutput()); !kws[tt.keyword] {
				t.Errorf("rejected by %v, want %q:\n%v", kws, tt.keyword, err)
			}
		})
	}
}

func results(doc map[string]any) map[string]any { return doc["results"].(map[string]any) }

// test0 is the first test of a CTRF document: a passed scenario with an
// attachment, in richRun's.
func test0(doc map[string]any) map[string]any {
	return results(doc)["tests"].([]any)[0].(map[string]any)
}

// failedKeywords are the last segments of the keyword locations of an
// output's errors: the schema keywords that rejected the document.
func failedKeywords(out *jsonschema.OutputUnit) map[string]bool {
	kws := map[string]bool{}
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if u.Error != nil {
			kws[u.KeywordLocation[strings.LastIndex(u.KeywordLocation, "/")+1:]] = true
		}
		for _, e := range u.Errors {
			walk(e)
		}
	}
	walk(*out)
	return kws
}

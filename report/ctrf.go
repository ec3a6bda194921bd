package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
)

// FormatCTRF is the Common Test Report Format (ctrf.io), specification
// 0.0.0: the JSON that CTRF's reporters, dashboards and CI integrations
// read. Each scenario is a test, its steps CTRF steps, and the files the
// run's output folder holds for it CTRF attachments.
const FormatCTRF = "ctrf"

type ctrfReport struct {
	ReportFormat string      `json:"reportFormat"`
	SpecVersion  string      `json:"specVersion"`
	ReportID     string      `json:"reportId"`
	Timestamp    string      `json:"timestamp"`
	GeneratedBy  string      `json:"generatedBy"`
	Results      ctrfResults `json:"results"`
}

type ctrfResults struct {
	Tool        ctrfTool       `json:"tool"`
	Summary     ctrfSummary    `json:"summary"`
	Tests       []ctrfTest     `json:"tests"`
	Environment map[string]any `json:"environment,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
}

type ctrfTool struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

type ctrfSummary struct {
	Tests   int `json:"tests"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Pending int `json:"pending"`
	Other   int `json:"other"`
	// Flaky counts the tests marked flaky; like CTRF's reference
	// implementation, only when there are some.
	Flaky    int   `json:"flaky,omitempty"`
	Suites   int   `json:"suites"`
	Start    int64 `json:"start"`
	Stop     int64 `json:"stop"`
	Duration int64 `json:"duration"`
}

type ctrfTest struct {
	Name        string           `json:"name"`
	Status      string           `json:"status"`
	Duration    int64            `json:"duration"`
	Start       int64            `json:"start,omitempty"`
	Stop        int64            `json:"stop,omitempty"`
	Suite       []string         `json:"suite,omitempty"`
	Message     string           `json:"message,omitempty"`
	Trace       string           `json:"trace,omitempty"`
	RawStatus   string           `json:"rawStatus,omitempty"`
	FilePath    string           `json:"filePath,omitempty"`
	Retries     int              `json:"retries,omitempty"`
	Flaky       bool             `json:"flaky,omitempty"`
	Steps       []ctrfStep       `json:"steps,omitempty"`
	Attachments []ctrfAttachment `json:"attachments,omitempty"`
}

type ctrfStep struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

type ctrfAttachment struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Path        string `json:"path"`
}

// ctrfStatus maps a status: an errored scenario (the infrastructure, not
// an expectation) is CTRF's "other", with rawStatus saying which.
func ctrfStatus(s Status) string {
	switch s {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return "other"
}

// WriteCTRF writes r as a CTRF report. Attachment paths are relative to
// the run's output folder, as the JSON report's.
func WriteCTRF(w io.Writer, r *Run) error {
	out := ctrfReport{
		ReportFormat: "CTRF",
		SpecVersion:  "0.0.0",
		ReportID:     uuid.NewString(),
		Timestamp:    r.Finished.UTC().Format(time.RFC3339),
		GeneratedBy:  "cleanroom",
		Results: ctrfResults{
			Tool:  ctrfTool{Name: "cleanroom", Version: r.Cleanroom},
			Tests: []ctrfTest{},
			Summary: ctrfSummary{
				Start: r.Started.UnixMilli(), Stop: r.Finished.UnixMilli(), Duration: int64(r.DurationMS), Suites: len(r.Suites),
			},
			Environment: map[string]any{"extra": map[string]any{"backend": r.Backend, "engine_version": r.EngineVersion}},
		},
	}
	for _, s := range r.Suites {
		if s == nil {
			continue
		}
		for _, sc := range s.Scenarios {
			if sc == nil {
				continue
			}
			t := ctrfTest{
				Name:     s.Name + " / " + sc.Name,
				Status:   ctrfStatus(sc.Status),
				Duration: int64(sc.DurationMS),
				Suite:    []string{s.Name},
				FilePath: s.File,
			}
			if !sc.Started.IsZero() {
				t.Start = sc.Started.UnixMilli()
				t.Stop = sc.Started.Add(time.Duration(sc.DurationMS * float64(time.Millisecond))).UnixMilli()
			}
			if sc.Status == Errored {
				t.RawStatus = "error"
			}
			t.Message, t.Trace = ctrfMessage(sc)
			for _, st := range sc.Steps {
				if st == nil {
					continue
				}
				t.Steps = append(t.Steps, ctrfStep{Name: st.Name, Status: ctrfStatus(st.Status)})
				if st.Attempts > 1 {
					t.Retries += st.Attempts - 1
				}
				if st.Flaky != nil {
					t.Flaky = true
				}
				if st.OutputFile != "" {
					t.Attachments = append(t.Attachments, ctrfAttachment{Name: "output of " + st.Name, ContentType: "text/plain", Path: st.OutputFile})
				}
			}
			for _, a := range sc.Artifacts {
				t.Attachments = append(t.Attachments, ctrfAttachment{Name: path.Base(a), ContentType: "application/octet-stream", Path: a})
			}
			out.Results.Tests = append(out.Results.Tests, t)
			out.Results.Summary.Tests++
			if t.Flaky {
				out.Results.Summary.Flaky++
			}
			switch t.Status {
			case "passed":
				out.Results.Summary.Passed++
			case "failed":
				out.Results.Summary.Failed++
			case "skipped":
				out.Results.Summary.Skipped++
			default:
				out.Results.Summary.Other++
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// ctrfMessage is a scenario's first problem (the message) and all of them
// (the trace).
func ctrfMessage(sc *Scenario) (message, trace string) {
	var all []string
	if sc.Error != "" {
		all = append(all, sc.Error)
	}
	for _, st := range sc.Steps {
		if st == nil || (st.Status != Failed && st.Status != Errored) {
			continue
		}
		if st.Error != "" {
			all = append(all, fmt.Sprintf("step %s: %s", st.Name, st.Error))
		}
		for _, f := range st.Failures {
			all = append(all, fmt.Sprintf("step %s: %s: expected %s, got %s", st.Name, f.Check, f.Expected, f.Got))
		}
	}
	if len(all) == 0 {
		return "", ""
	}
	return firstLineOf(all[0]), strings.Join(all, "\n")
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

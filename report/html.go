package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed html.tmpl
var htmlTemplate string

// htmlPage is parsed once; a parse error is a bug in html.tmpl, which
// TestWriteHTML catches.
var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"text":    xmlSafe,
	"ms":      millis,
	"bytes":   Bytes,
	"diff":    diffLines,
	"output":  stepText,
	"add":     func(a, b int) int { return a + b },
	"shortID": shortID,
	"stamp":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
}).Parse(htmlTemplate))

// WriteHTML writes r as one HTML page: the summary, each suite with its
// services and scenarios, every step with its failures and diffs, a
// timeline of service starts and steps, and relative links to the files
// the run left in its output folder. All text from the run is escaped by
// html/template, so output that looks like markup stays text.
func WriteHTML(w io.Writer, r *Run) error {
	if err := htmlPage.Execute(w, htmlView{Run: r, Timeline: timeline(r)}); err != nil {
		return fmt.Errorf("report: writing HTML: %w", err)
	}
	return nil
}

type htmlView struct {
	*Run
	Timeline []bar
}

// bar is one row of the timeline: Left and Width are percentages of the
// run's duration, formatted for a CSS length.
type bar struct {
	Kind, Label, Status string
	Left, Width         string
}

// timeline lays out one bar per service start (its time to ready) and per
// step that ran, relative to the run's start. Steps never started (skipped)
// have no place on it.
func timeline(r *Run) []bar {
	total := r.Finished.Sub(r.Started).Seconds() * 1000
	if total <= 0 {
		total = r.DurationMS
	}
	if total <= 0 {
		return nil
	}
	pct := func(v float64) string {
		v = min(max(v/total*100, 0), 100)
		return fmt.Sprintf("%.3f", v)
	}
	place := func(kind, label string, st Status, start time.Time, dur float64) bar {
		off := start.Sub(r.Started).Seconds() * 1000
		return bar{Kind: kind, Label: label, Status: string(st), Left: pct(off), Width: pct(min(dur, total-off))}
	}
	var bars []bar
	for _, s := range r.Suites {
		for _, sv := range s.Services {
			if !sv.Started.IsZero() {
				bars = append(bars, place("service", s.Name+" / "+sv.Name, "", sv.Started, sv.ReadyMS))
			}
		}
		for _, sc := range s.Scenarios {
			for _, st := range sc.Steps {
				if !st.Started.IsZero() {
					bars = append(bars, place("step", s.Name+" / "+sc.Name+" / "+st.Name, st.Status, st.Started, st.DurationMS))
				}
			}
		}
	}
	return bars
}

// shortID shortens an image digest the way docker's listings do:
// "sha256:" and the first 12 hex digits. The page keeps the whole digest in
// a title attribute. An ID without an algorithm is cut to its first 12
// characters.
func shortID(id string) string {
	const digits = 12
	prefix, hex := "", id
	if algo, rest, ok := strings.Cut(id, ":"); ok && algo != "" {
		prefix, hex = algo+":", rest
	}
	if r := []rune(hex); len(r) > digits {
		hex = string(r[:digits])
	}
	return prefix + hex
}

// diffLine is one line of a unified diff with the class it is shown in.
type diffLine struct{ Class, Text string }

// diffLines classifies a unified diff's lines so that removed ("del") and
// added ("add") lines can be coloured; the file headers are "hdr", hunk
// headers "hunk" and context "ctx".
func diffLines(d string) []diffLine {
	lines := strings.Split(strings.TrimSuffix(d, "\n"), "\n")
	out := make([]diffLine, 0, len(lines))
	for _, l := range lines {
		class := "ctx"
		switch {
		case strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "+++ "):
			class = "hdr"
		case strings.HasPrefix(l, "@@"):
			class = "hunk"
		case strings.HasPrefix(l, "-"):
			class = "del"
		case strings.HasPrefix(l, "+"):
			class = "add"
		}
		out = append(out, diffLine{class, xmlSafe(l)})
	}
	return out
}

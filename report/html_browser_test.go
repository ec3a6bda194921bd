package report_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/cleanroomhq/cleanroom/internal/browsertest"
	"github.com/cleanroomhq/cleanroom/report"
)

// These tests open the HTML report in headless Chromium (scripts/browser.sh
// installs it) and check the page the browser made of it, not the bytes
// WriteHTML wrote. The run of internal/cli's TestRunHTMLReportInBrowser is
// a real one.

func writeHTML(t *testing.T, r *report.Run) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := report.WriteFile(path, report.FormatHTML, r); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHTMLInBrowser: the browser's DOM of the fixture's report has the
// run's suites, scenarios and steps with their statuses, its summary and
// its services, and the fixture's markup and control characters as text.
func TestHTMLInBrowser(t *testing.T) {
	browsertest.Chromium(t)
	r := report.HTMLTestRun()
	_, doc := browsertest.DumpDOM(t, writeHTML(t, r), browsertest.Window, browsertest.WindowHeight)
	browsertest.CheckReportPage(t, r, doc)

	text := browsertest.TextOf(doc)
	for _, want := range []string{
		`naïve <html> & "quotes"\x07`, // a scenario name with markup
		"<script>alert(1)</script>",   // a step's output
		"+\\x1b[31mred\\x1b[0m\\x00",  // ESC and NUL in a diff, made visible
		"timeout after 5s: context deadline exceeded\ncontainer killed",
		"sha256:3f1b2c9d8e7a",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page in the browser does not show %q", want)
		}
	}
	var titles []string
	for n := range doc.Descendants() {
		for _, a := range n.Attr {
			if n.Type == html.ElementNode && a.Key == "title" && strings.HasPrefix(a.Val, "sha256:") {
				titles = append(titles, a.Val)
			}
		}
	}
	if len(titles) != 2 || titles[0] != report.TestImageID {
		t.Errorf("image digests in title attributes: %q, want the db's %s and web's", titles, report.TestImageID)
	}
}

// TestHTMLRenderedInBrowser: what the browser computed for the fixture's
// report: colours by status, the timeline's bars, no sideways scrolling.
func TestHTMLRenderedInBrowser(t *testing.T) {
	browsertest.Chromium(t)
	browsertest.CheckReportRendering(t, writeHTML(t, report.HTMLTestRun()))
}

// TestHTMLInBrowserCatchesDifferences: the checks above fail on a page that
// does not match its run (a check that cannot fail proves nothing).
func TestHTMLInBrowserCatchesDifferences(t *testing.T) {
	browsertest.Chromium(t)
	r := report.HTMLTestRun()
	path := writeHTML(t, r)
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const dom, rendering = false, true
	for _, tt := range []struct {
		name, old, new string
		rendering      bool // which check must see it
	}{
		{"a step's status", `<li class="step" data-status="passed"`, `<li class="step" data-status="failed"`, dom},
		{"a summary count", `<td data-count="passed">`, `<td data-count="passed">1`, dom},
		{"an image digest", `title="` + report.TestImageID, `title="sha256:0000`, dom},
		{"a script", `</body>`, `<script>document.querySelector("li.step").remove()</script></body>`, dom},
		{"a status colour", `.status.passed { color: #1a7f37; }`, `.status.passed { color: #1a7f38; }`, rendering},
		{"a timeline bar", `style="left: 4.032%`, `style="left: 99.9%`, rendering},
		{"the page's width", `<body>`, `<body><div style="width: 3000px">wide</div>`, rendering},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(page), tt.old) {
				t.Fatalf("the page has no %q to change", tt.old)
			}
			bad := filepath.Join(t.TempDir(), "bad.html")
			if err := os.WriteFile(bad, []byte(strings.Replace(string(page), tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			rec := &recorder{TB: t}
			func() {
				defer func() { _ = recover() }() // recorder.Fatalf
				if tt.rendering {
					browsertest.CheckReportRendering(rec, bad)
				} else {
					_, doc := browsertest.DumpDOM(t, bad, browsertest.Window, browsertest.WindowHeight)
					browsertest.CheckReportPage(rec, r, doc)
				}
			}()
			if len(rec.errs) == 0 {
				t.Errorf("changing %s went unnoticed", tt.name)
			}
			t.Logf("caught: %s", strings.Join(rec.errs, "; "))
		})
	}
}

// recorder collects the errors of the checks instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmtLine(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(r)
}

func fmtLine(format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

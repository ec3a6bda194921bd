package report

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/cleanroomhq/cleanroom/policy"
)

// testImageID is the digest of the fixture's postgres image.
const testImageID = "sha256:3f1b2c9d8e7a6f5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b"

// htmlRun is testRun with what only the HTML report shows filled in:
// image digests, policies, resource peaks, coverage, notes, artifact files,
// and markup in a step's output that must stay text.
func htmlRun() *Run {
	r := testRun()
	users := r.Suites[0]
	db := users.Services[0]
	db.Policy = &policy.Policy{Preset: "strict", Network: policy.Network("isolated")}
	db.Resources = &Resources{CPUSeconds: 1.25, MemoryPeakBytes: 64 << 20, MemoryLimitBytes: 256 << 20, PidsPeak: 12, Samples: 4}
	db.Log = "users/db.log"
	db.ImageID = testImageID
	users.Services[2].ImageID = "sha256:0123456789ab" // no longer than the short form
	db.Coverage = &Coverage{Profile: "users/web/coverage.out", Packages: []PackageCoverage{{Package: "example.com/app", Percent: 73.4}}}
	greet := users.Scenarios[1]
	greet.Artifacts = []string{"users/greet/web/out.txt"}
	st := greet.Steps[0]
	st.OutputFile = "users/greet/1-greet.out"
	st.Notes = []string{"process limit reached"}
	st.Resources = &Resources{CPUSeconds: 0.5, MemoryPeakBytes: 3 << 20, PidsPeak: 4}
	st.Output.Stdout += "<script>alert(1)</script>\n"
	return r
}

func renderHTML(t *testing.T, r *Run) (string, *html.Node) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("CLEANROOM_HTML_OUT"); dir != "" {
		// For looking at the page in a browser.
		_ = os.WriteFile(dir+"/"+t.Name()+".html", buf.Bytes(), 0o644)
	}
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return buf.String(), doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	for _, c := range strings.Fields(v) {
		if c == class {
			return true
		}
	}
	return false
}

// findAll returns the elements under n for which match holds, in document
// order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// countByStatus counts the elements tag.class by their data-status.
func countByStatus(doc *html.Node, tag, class string) map[string]int {
	got := map[string]int{}
	for _, n := range findAll(doc, func(n *html.Node) bool { return n.Data == tag && hasClass(n, class) }) {
		s, _ := attr(n, "data-status")
		got[s]++
	}
	return got
}

func TestWriteHTMLCounts(t *testing.T) {
	r := htmlRun()
	_, doc := renderHTML(t, r)
	for _, tt := range []struct {
		tag, class string
		want       map[string]int
	}{
		{"section", "scenario", map[string]int{
			"passed": r.Summary.Passed, "failed": r.Summary.Failed,
			"skipped": r.Summary.Skipped, "error": r.Summary.Errored,
		}},
		{"li", "step", map[string]int{
			"passed": r.Summary.Steps.Passed, "failed": r.Summary.Steps.Failed,
			"skipped": r.Summary.Steps.Skipped, "error": r.Summary.Steps.Errored,
		}},
		{"section", "suite", map[string]int{"failed": 1, "error": 1}},
	} {
		got := countByStatus(doc, tt.tag, tt.class)
		for status, n := range tt.want {
			if n == 0 {
				delete(tt.want, status)
			}
		}
		if !equalCounts(got, tt.want) {
			t.Errorf("%s.%s by data-status: got %v, want %v", tt.tag, tt.class, got, tt.want)
		}
	}
	// The summary table says the same as the model.
	for _, tt := range []struct {
		row  string
		want map[string]int
	}{
		{"summary-scenarios", map[string]int{"passed": r.Summary.Passed, "failed": r.Summary.Failed, "error": r.Summary.Errored, "skipped": r.Summary.Skipped}},
		{"summary-steps", map[string]int{"passed": r.Summary.Steps.Passed, "failed": r.Summary.Steps.Failed, "error": r.Summary.Steps.Errored, "skipped": r.Summary.Steps.Skipped}},
	} {
		rows := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "id"); return v == tt.row })
		if len(rows) != 1 {
			t.Fatalf("#%s: %d elements, want 1", tt.row, len(rows))
		}
		for _, td := range findAll(rows[0], func(n *html.Node) bool { return n.Data == "td" }) {
			k, _ := attr(td, "data-count")
			if want := tt.want[k]; textOf(td) != strconv.Itoa(want) {
				t.Errorf("#%s %s: got %q, want %d", tt.row, k, textOf(td), want)
			}
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestWriteHTMLDiff(t *testing.T) {
	_, doc := renderHTML(t, htmlRun())
	diffs := findAll(doc, func(n *html.Node) bool { return n.Data == "pre" && hasClass(n, "diff") })
	if len(diffs) != 1 {
		t.Fatalf("%d <pre class=diff>, want 1 (the fixture has one diff)", len(diffs))
	}
	var got []string
	for _, sp := range findAll(diffs[0], func(n *html.Node) bool { return n.Data == "span" }) {
		c, _ := attr(sp, "class")
		got = append(got, c+" "+textOf(sp))
	}
	// The fixture's diff, with its ESC and NUL made visible.
	want := []string{
		"hdr --- expected",
		"hdr +++ got",
		"hunk @@ -1,2 +1,3 @@",
		"ctx  hello",
		`add +\x1b[31mred\x1b[0m\x00`,
		"del -world",
		"add +world ]]> end",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff lines:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Read as text (copied, or dumped by a browser) it is still a diff.
	if got, want := textOf(diffs[0]), xmlSafe(testRun().Suites[0].Scenarios[1].Steps[0].Failures[0].Diff); got != want {
		t.Errorf("diff text:\ngot:  %q\nwant: %q", got, want)
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	page, doc := renderHTML(t, htmlRun())
	if strings.Contains(page, "<script>alert(1)</script>") {
		t.Error("a <script> in a step's output reached the page unescaped")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the escaped <script> from the step's output is missing")
	}
	if s := findAll(doc, func(n *html.Node) bool { return n.Data == "script" }); len(s) != 0 {
		t.Errorf("%d <script> elements, want none", len(s))
	}
	// The scenario named with markup is text, not elements.
	if !strings.Contains(textOf(doc), `naïve <html> & "quotes"\x07`) {
		t.Error("the scenario name with markup is not shown as text")
	}
}

// TestWriteHTMLSelfContained: one file that fetches nothing, so it opens
// offline and from a CI artifact.
func TestWriteHTMLSelfContained(t *testing.T) {
	_, doc := renderHTML(t, htmlRun())
	for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			switch a.Key {
			case "src", "href", "srcset", "action", "poster", "data":
				if strings.Contains(a.Val, ":") {
					t.Errorf("<%s %s=%q>: want a relative link, fetched from nowhere", n.Data, a.Key, a.Val)
				}
			}
		}
		switch n.Data {
		case "link", "script", "iframe", "img", "object", "embed":
			t.Errorf("<%s>: the page must need no other file", n.Data)
		}
	}
	for _, st := range findAll(doc, func(n *html.Node) bool { return n.Data == "style" }) {
		if css := textOf(st); strings.Contains(css, "@import") || strings.Contains(css, "url(") {
			t.Errorf("inline CSS fetches something: %q", css)
		}
	}
}

func TestWriteHTMLDetails(t *testing.T) {
	r := htmlRun()
	page, doc := renderHTML(t, r)
	var links []string
	for _, a := range findAll(doc, func(n *html.Node) bool { return n.Data == "a" && hasClass(n, "artifact") }) {
		href, _ := attr(a, "href")
		links = append(links, href)
	}
	wantLinks := []string{"users/web/coverage.out", "users/db.log", "users/greet/1-greet.out", "users/greet/web/out.txt"}
	if strings.Join(links, " ") != strings.Join(wantLinks, " ") {
		t.Errorf("artifact links: got %q, want %q", links, wantLinks)
	}
	text := textOf(doc)
	for _, want := range []string{
		"preset strict, network isolated", // the service's policy
		"memory 64.0MiB of 256.0MiB, CPU 1.25s, pids 12",
		"example.com/app: 73.4%",
		"memory peak 3.0MiB, CPU 0.50s, pids 4", // the step's resources
		"process limit reached",
		"docker", "27.5.1", "v0.1.0", "30.110s",
		"cr-7f3a9c", "examples/users.cleanroom.toml",
		"timeout after 5s: context deadline exceeded\ncontainer killed",
		`database "app_clone_3" does not exist`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	// A bar per service start and per step that ran.
	var services, steps int
	for _, s := range r.Suites {
		services += len(s.Services)
		for _, sc := range s.Scenarios {
			for _, st := range sc.Steps {
				if !st.Started.IsZero() {
					steps++
				}
			}
		}
	}
	bars := findAll(doc, func(n *html.Node) bool { return n.Data == "div" && hasClass(n, "bar") })
	var gotServices, gotSteps int
	for _, b := range bars {
		switch k, _ := attr(b, "data-kind"); k {
		case "service":
			gotServices++
		case "step":
			gotSteps++
		}
		if style, _ := attr(b, "style"); !strings.HasPrefix(style, "left: ") || strings.Contains(style, "ZgotmplZ") {
			t.Errorf("timeline bar style %q", style)
		}
	}
	if gotServices != services || gotSteps != steps {
		t.Errorf("timeline: %d service bars and %d step bars, want %d and %d", gotServices, gotSteps, services, steps)
	}
	// The slow step starts 1214ms into a 30110ms run and lasts 5000ms.
	if !strings.Contains(page, `style="left: 4.032%; width: 16.606%"`) {
		t.Error("the slow step's bar is not where its times put it")
	}
}

// TestWriteHTMLImageIDs: a service's image digest is shown short, with the
// whole digest in the title; a service without one shows none.
func TestWriteHTMLImageIDs(t *testing.T) {
	r := htmlRun()
	_, doc := renderHTML(t, r)
	rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "service") })
	var services []*Service
	for _, s := range r.Suites {
		services = append(services, s.Services...)
	}
	if len(rows) != len(services) {
		t.Fatalf("%d service rows, want %d", len(rows), len(services))
	}
	want := map[string][2]string{ // service → short form, title
		"db":  {"sha256:3f1b2c9d8e7a", testImageID},
		"web": {"sha256:0123456789ab", "sha256:0123456789ab"},
	}
	seen := 0
	for i, row := range rows {
		sv := services[i]
		ids := findAll(row, func(n *html.Node) bool { return n.Data == "code" && hasClass(n, "image-id") })
		w, ok := want[sv.Name]
		if sv.ImageID == "" || !ok {
			if len(ids) != 0 {
				t.Errorf("service %s has no image ID but shows %q", sv.Name, textOf(ids[0]))
			}
			continue
		}
		seen++
		if len(ids) != 1 {
			t.Errorf("service %s: %d image IDs shown, want 1", sv.Name, len(ids))
			continue
		}
		title, _ := attr(ids[0], "title")
		if got := textOf(ids[0]); got != w[0] || title != w[1] {
			t.Errorf("service %s: image ID %q (title %q), want %q (title %q)", sv.Name, got, title, w[0], w[1])
		}
	}
	if seen != len(want) {
		t.Errorf("found %d services with image IDs, want %d", seen, len(want))
	}
}

func TestShortID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{testImageID, "sha256:3f1b2c9d8e7a"},
		{"sha256:abc", "sha256:abc"},
		{"3f1b2c9d8e7a6f5b4c3d", "3f1b2c9d8e7a"},
		{":3f1b2c9d8e7a6f5b", ":3f1b2c9d8e7"},
		{"sha512:ééééééééééééééé", "sha512:éééééééééééé"},
		{"", ""},
	} {
		if got := shortID(tt.in); got != tt.want {
			t.Errorf("shortID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteFileHTML(t *testing.T) {
	path := t.TempDir() + "/r.html"
	if err := WriteFile(path, FormatHTML, testRun()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := WriteHTML(&want, testRun()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("file differs from what WriteHTML writes")
	}
}

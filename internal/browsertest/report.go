package browsertest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/cleanroomhq/cleanroom/report"
)

// Window is the size the report is opened at: a laptop screen's width.
const Window, WindowHeight = 1280, 1600

// CheckReportPage compares the DOM Chromium made of an HTML report (see
// DumpDOM) with the run it was written from: the suites, scenarios and steps
// in order with their statuses, the summary table, one row per service
// with its image digest, and no script (the page has none, and markup in
// the run's output must have stayed text).
func CheckReportPage(t testing.TB, r *report.Run, doc *html.Node) {
	t.Helper()
	var suites, scenarios, steps []string
	var services []*report.Service
	for _, s := range r.Suites {
		suites = append(suites, string(s.Status))
		services = append(services, s.Services...)
		for _, sc := range s.Scenarios {
			scenarios = append(scenarios, string(sc.Status))
			for _, st := range sc.Steps {
				steps = append(steps, string(st.Status))
			}
		}
	}
	if len(scenarios) == 0 || len(steps) == 0 {
		t.Fatalf("the run has %d scenarios and %d steps: nothing to compare", len(scenarios), len(steps))
	}
	for _, tt := range []struct {
		what, tag, class string
		want             []string
	}{
		{"suites", "section", "suite", suites},
		{"scenarios", "section", "scenario", scenarios},
		{"steps", "li", "step", steps},
	} {
		var got []string
		for _, n := range findAll(doc, func(n *html.Node) bool { return n.Data == tt.tag && hasClass(n, tt.class) }) {
			s, _ := attr(n, "data-status")
			got = append(got, s)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s (%s.%s) by data-status, in page order:\n got %v (%v)\nwant %v (%v)",
				tt.what, tt.tag, tt.class, got, count(got), tt.want, count(tt.want))
		}
	}

	if h := findAll(doc, func(n *html.Node) bool { return n.Data == "header" && id(n) == "summary" }); len(h) != 1 {
		t.Errorf("%d header#summary, want 1", len(h))
	} else if s, _ := attr(h[0], "data-status"); s != string(r.Status) {
		t.Errorf("header#summary data-status %q, want the run's %q", s, r.Status)
	}
	sum := r.Summary
	for _, tt := range []struct {
		row  string
		want map[string]int
	}{
		{"summary-scenarios", map[string]int{"passed": sum.Passed, "failed": sum.Failed, "error": sum.Errored, "skipped": sum.Skipped}},
		{"summary-steps", map[string]int{"passed": sum.Steps.Passed, "failed": sum.Steps.Failed, "error": sum.Steps.Errored, "skipped": sum.Steps.Skipped}},
	} {
		rows := findAll(doc, func(n *html.Node) bool { return id(n) == tt.row })
		if len(rows) != 1 {
			t.Errorf("#%s: %d elements, want 1", tt.row, len(rows))
			continue
		}
		got := map[string]int{}
		for _, td := range findAll(rows[0], func(n *html.Node) bool { return n.Data == "td" }) {
			k, _ := attr(td, "data-count")
			n, err := strconv.Atoi(strings.TrimSpace(textOf(td)))
			if err != nil {
				t.Errorf("#%s %s: %q is not a count", tt.row, k, textOf(td))
			}
			got[k] = n
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("#%s: got %v, want %v", tt.row, got, tt.want)
		}
	}

	rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "service") })
	if len(rows) != len(services) {
		t.Errorf("%d service rows, want %d", len(rows), len(services))
	} else {
		for i, row := range rows {
			sv := services[i]
			ids := findAll(row, func(n *html.Node) bool { return n.Data == "code" && hasClass(n, "image-id") })
			switch {
			case sv.ImageID == "" && len(ids) == 0:
			case sv.ImageID == "":
				t.Errorf("service %s has no image digest but the page shows %q", sv.Name, textOf(ids[0]))
			case len(ids) != 1:
				t.Errorf("service %s: %d image digests on the page, want 1 (%s)", sv.Name, len(ids), sv.ImageID)
			default:
				title, _ := attr(ids[0], "title")
				short := textOf(ids[0])
				if title != sv.ImageID || !strings.HasPrefix(sv.ImageID, short) || len(short) < min(len(sv.ImageID), 19) {
					t.Errorf("service %s: image digest %q (title %q), want a prefix of %q with the whole in the title", sv.Name, short, title, sv.ImageID)
				}
			}
		}
	}

	if s := findAll(doc, func(n *html.Node) bool { return n.Data == "script" }); len(s) != 0 {
		t.Errorf("%d <script> elements in the browser's DOM, want none", len(s))
	}
}

// probe runs in the page (a copy of it) after it was laid out, and leaves
// what the browser computed in <pre id="cleanroom-probe"> as JSON, which
// --dump-dom then shows.
const probe = `<script>
(function () {
  var res = {status: {}, borders: {}, bars: [], hidden: [], scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth};
  function add(m, k, v) { m[k] = m[k] || []; if (m[k].indexOf(v) < 0) m[k].push(v); }
  document.querySelectorAll('.status').forEach(function (el) { add(res.status, el.textContent.trim(), getComputedStyle(el).color); });
  document.querySelectorAll('section.scenario').forEach(function (el) { add(res.borders, el.dataset.status, getComputedStyle(el).borderLeftColor); });
  document.querySelectorAll('.timeline .bar').forEach(function (el) {
    var track = el.parentElement.getBoundingClientRect(), r = el.getBoundingClientRect();
    res.bars.push({kind: el.dataset.kind, status: el.dataset.status || '', color: getComputedStyle(el).backgroundColor,
      trackLeft: track.left, trackWidth: track.width, left: r.left, width: r.width, height: r.height,
      styleLeft: parseFloat(el.style.left), styleWidth: parseFloat(el.style.width)});
  });
  document.querySelectorAll('header, section.suite, section.scenario, li.step, tr.service').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || getComputedStyle(el).visibility !== 'visible') res.hidden.push(el.id || el.className);
  });
  var out = document.createElement('pre');
  out.id = 'cleanroom-probe';
  out.textContent = JSON.stringify(res);
  document.body.appendChild(out);
})();
</script>
`

type probeResult struct {
	Status      map[string][]string `json:"status"`
	Borders     map[string][]string `json:"borders"`
	Bars        []probeBar          `json:"bars"`
	Hidden      []string            `json:"hidden"`
	ScrollWidth float64             `json:"scrollWidth"`
	InnerWidth  float64             `json:"innerWidth"`
}

type probeBar struct {
	Kind, Status, Color   string
	TrackLeft, TrackWidth float64
	Left, Width, Height   float64
	StyleLeft, StyleWidth float64
}

// The colours of html.tmpl's style sheet, as getComputedStyle gives them.
var (
	statusColor = map[string]string{
		"passed":  "rgb(26, 127, 55)",
		"failed":  "rgb(207, 34, 46)",
		"error":   "rgb(154, 103, 0)",
		"skipped": "rgb(102, 102, 102)",
	}
	borderColor = map[string]string{
		"passed":  "rgb(26, 127, 55)",
		"failed":  "rgb(207, 34, 46)",
		"error":   "rgb(154, 103, 0)",
		"skipped": "rgb(204, 204, 204)",
	}
	serviceBar = "rgb(9, 105, 218)"
)

// CheckReportRendering opens a copy of the HTML report at path, with a
// probe script added, in headless Chromium and checks what the browser
// computed: every status word in its status's colour, scenario borders
// likewise, every timeline bar inside its track where its times put it and
// in its colour, nothing wider than the window, and every suite,
// scenario, step and service row laid out with a size.
func CheckReportRendering(t testing.TB, path string) {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(string(page), "</body>")
	if i < 0 {
		t.Fatalf("%s has no </body>", path)
	}
	probed := filepath.Join(t.TempDir(), "probed.html")
	if err := os.WriteFile(probed, []byte(string(page[:i])+probe+string(page[i:])), 0o644); err != nil {
		t.Fatal(err)
	}
	_, doc := DumpDOM(t, probed, Window, WindowHeight)
	pre := findAll(doc, func(n *html.Node) bool { return id(n) == "cleanroom-probe" })
	if len(pre) != 1 {
		t.Fatalf("the probe script left %d results in the page: it did not run", len(pre))
	}
	var res probeResult
	if err := json.Unmarshal([]byte(textOf(pre[0])), &res); err != nil {
		t.Fatalf("probe result: %v\n%s", err, textOf(pre[0]))
	}

	if len(res.Status) == 0 {
		t.Error("no .status element on the page")
	}
	for status, colors := range res.Status {
		if want, ok := statusColor[status]; !ok {
			t.Errorf(".status %q: not a status", status)
		} else if len(colors) != 1 || colors[0] != want {
			t.Errorf(".status %q shown in %v, want %s", status, colors, want)
		}
	}
	for status, colors := range res.Borders {
		if want := borderColor[status]; len(colors) != 1 || colors[0] != want {
			t.Errorf("section.scenario[data-status=%q] border %v, want %s", status, colors, want)
		}
	}
	for _, b := range res.Bars {
		what := b.Kind + " bar " + b.Status
		want := serviceBar
		if b.Kind == "step" {
			want = statusColor[b.Status]
		}
		if b.Color != want {
			t.Errorf("%s: colour %s, want %s", what, b.Color, want)
		}
		if b.TrackWidth < Window/2 {
			t.Errorf("%s: timeline track %.0fpx wide in a %dpx window", what, b.TrackWidth, Window)
		}
		left := b.Left - b.TrackLeft
		// A bar is at least 2px wide (min-width), so one at the very end
		// may reach 2px past its track, into the track's right margin.
		if left < -0.5 || left+b.Width > b.TrackWidth+2.5 || b.Width < 1.5 || b.Height < 1 {
			t.Errorf("%s: at %.1fpx, %.1f×%.1fpx, outside its %.1fpx track", what, left, b.Width, b.Height, b.TrackWidth)
		}
		// Placed by its times: the inline style reached the layout.
		if got := left / b.TrackWidth * 100; math.Abs(got-b.StyleLeft) > 0.5 {
			t.Errorf("%s: left at %.2f%% of the track, its style says %.3f%%", what, got, b.StyleLeft)
		}
		if got := b.Width / b.TrackWidth * 100; b.Width > 2.5 && math.Abs(got-b.StyleWidth) > 0.5 {
			t.Errorf("%s: %.2f%% of the track wide, its style says %.3f%%", what, got, b.StyleWidth)
		}
	}
	if res.ScrollWidth > res.InnerWidth {
		t.Errorf("the page is %.0fpx wide in a %.0fpx window: it scrolls sideways", res.ScrollWidth, res.InnerWidth)
	}
	if len(res.Hidden) > 0 {
		t.Errorf("laid out without a size or invisible: %v", res.Hidden)
	}
}

func count(statuses []string) map[string]int {
	m := map[string]int{}
	for _, s := range statuses {
		m[s]++
	}
	return m
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func id(n *html.Node) string { v, _ := attr(n, "id"); return v }

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return slices.Contains(strings.Fields(v), class)
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

// TextOf is the text of n and everything under it, as the page shows it.
func TextOf(n *html.Node) string { return textOf(n) }

func textOf(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

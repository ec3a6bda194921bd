package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWriteJUnitGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, testRun()); err != nil {
		t.Fatal(err)
	}
	golden(t, "run.junit.xml", buf.Bytes())
}

// The x* types read a JUnit file back the way a CI system does; they are
// written separately from the writer's own types on purpose.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []xSuite `xml:"testsuite"`
}

type xSuite struct {
	Name      string  `xml:"name,attr"`
	Tests     int     `xml:"tests,attr"`
	Failures  int     `xml:"failures,attr"`
	Errors    int     `xml:"errors,attr"`
	Skipped   int     `xml:"skipped,attr"`
	Time      string  `xml:"time,attr"`
	Timestamp string  `xml:"timestamp,attr"`
	Props     []xProp `xml:"properties>property"`
	Cases     []xCase `xml:"testcase"`
	SystemOut string  `xml:"system-out"`
}

type xProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type xCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Time      string    `xml:"time,attr"`
	Failure   *xProblem `xml:"failure"`
	Error     *xProblem `xml:"error"`
	Skipped   *xProblem `xml:"skipped"`
	SystemOut string    `xml:"system-out"`
}

type xProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

func readJUnit(t *testing.T, r *Run) (*xSuites, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc xSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("the JUnit report does not parse: %v\n%s", err, buf.Bytes())
	}
	return &doc, buf.Bytes()
}

func TestJUnitParsesBack(t *testing.T) {
	doc, _ := readJUnit(t, testRun())

	if doc.Name != "cleanroom" || doc.Tests != 8 || doc.Failures != 1 || doc.Errors != 3 || doc.Time != "30.110" {
		t.Errorf("testsuites: name=%q tests=%d failures=%d errors=%d time=%q; want cleanroom 8 1 3 30.110",
			doc.Name, doc.Tests, doc.Failures, doc.Errors, doc.Time)
	}
	if len(doc.Suites) != 2 {
		t.Fatalf("%d test suites, want 2", len(doc.Suites))
	}

	suites := []struct {
		name                             string
		tests, failures, errors, skipped int
		time, timestamp                  string
		props                            map[string]string
		cases                            []string
		kinds                            []string // failure, error, skipped or pass, per case
		systemOut                        string   // in the suite's system-out
	}{
		{
			name: "users", tests: 6, failures: 1, errors: 2, skipped: 2, time: "2.346", timestamp: "2025-06-01T10:00:00",
			props: map[string]string{
				"file": "examples/users.cleanroom.toml", "seed": "42", "session_id": "cr-7f3a9c",
				"cleanroom_version": "v0.1.0", "backend": "docker", "engine_version": "27.5.1",
			},
			cases:     []string{"create user", "greet", "flaky", "reset", "interrupted", `naïve <html> & "quotes"\x07`},
			kinds:     []string{"pass", "failure", "error", "error", "skipped", "skipped"},
			systemOut: "  web (generic, busybox:latest) at 127.0.0.1:32770 ready in 40.2ms, restarts: 1\n",
		},
		{
			name: "broken", tests: 2, failures: 0, errors: 1, skipped: 1, time: "30.012", timestamp: "2025-06-01T10:00:00",
			props: map[string]string{
				"file": "examples/broken.cleanroom.toml", "seed": "-7", "session_id": "cr-7f3a9d",
				"cleanroom_version": "v0.1.0", "backend": "docker", "engine_version": "27.5.1",
			},
			cases:     []string{"(setup)", "never ran"},
			kinds:     []string{"error", "skipped"},
			systemOut: "  db (postgres, postgres:16) ready in 30.000s\n",
		},
	}
	for i, want := range suites {
		got := doc.Suites[i]
		if got.Name != want.name || got.Tests != want.tests || got.Failures != want.failures || got.Errors != want.errors ||
			got.Skipped != want.skipped || got.Time != want.time || got.Timestamp != want.timestamp {
			t.Errorf("suite %d: %q tests=%d failures=%d errors=%d skipped=%d time=%q timestamp=%q; want %+v",
				i, got.Name, got.Tests, got.Failures, got.Errors, got.Skipped, got.Time, got.Timestamp, want)
		}
		props := map[string]string{}
		for _, p := range got.Props {
			props[p.Name] = p.Value
		}
		if fmt.Sprint(props) != fmt.Sprint(want.props) {
			t.Errorf("suite %q properties %v, want %v", got.Name, props, want.props)
		}
		var names, kinds []string
		for _, c := range got.Cases {
			names = append(names, c.Name)
			kinds = append(kinds, caseKind(c))
			if c.Classname != got.Name {
				t.Errorf("case %q has classname %q, want the suite name %q", c.Name, c.Classname, got.Name)
			}
		}
		if !slices.Equal(names, want.cases) {
			t.Errorf("suite %q cases %q, want %q", got.Name, names, want.cases)
		}
		if !slices.Equal(kinds, want.kinds) {
			t.Errorf("suite %q case results %q, want %q", got.Name, kinds, want.kinds)
		}
		if !strings.Contains(got.SystemOut, want.systemOut) {
			t.Errorf("suite %q system-out lacks %q:\n%s", got.Name, want.systemOut, got.SystemOut)
		}
	}

	users, broken := doc.Suites[0].Cases, doc.Suites[1].Cases
	problems := []struct {
		name    string
		p       *xProblem
		message string
		typ     string
		inBody  []string
	}{
		{
			name:    "failed scenario",
			p:       users[1].Failure,
			message: `step "greet": stdout: expected hello\nworld, got hello\n\x1b[31mred\x1b[0m\x00\nworld ]]> end (and 2 more)`,
			typ:     "expectation",
			inBody: []string{
				"step 1 \"greet\" failed at examples/users.cleanroom.toml:48:1\n",
				"  stdout at examples/users.cleanroom.toml:52:10\n    expected:\n      hello\n      world\n",
				"    got:\n      hello\n      \\x1b[31mred\\x1b[0m\\x00\n      world ]]> end\n",
				"    diff:\n      --- expected\n      +++ got\n      @@ -1,2 +1,3 @@\n       hello\n      +\\x1b[31mred\\x1b[0m\\x00\n      -world\n      +world ]]> end\n",
				"  exit_code at examples/users.cleanroom.toml:52:40\n    expected: 0\n    got: 3\n",
				"step 2 \"status\" failed at examples/users.cleanroom.toml:57:1\n  status at examples/users.cleanroom.toml:60:12\n    expected: 200\n    got: 500\n",
			},
		},
		{
			name:    "errored step",
			p:       users[2].Error,
			message: `step "slow": timeout after 5s: context deadline exceeded\ncontainer killed`,
			typ:     "infrastructure",
			inBody:  []string{"step 2 \"slow\" error at examples/users.cleanroom.toml:70:1\n  error:\n    timeout after 5s: context deadline exceeded\n    container killed\n"},
		},
		{
			name:    "scenario error",
			p:       users[3].Error,
			message: `clean state: db: swap in clone: ERROR: database "app_clone_3" does not exist (SQLSTATE 3D000)`,
			typ:     "infrastructure",
			inBody:  []string{"scenario error: clean state: db: swap in clone"},
		},
		{
			name:    "interrupted",
			p:       users[4].Skipped,
			message: "interrupted (SIGINT)",
		},
		{
			name:    "filtered out",
			p:       users[5].Skipped,
			message: "",
		},
		{
			name:    "suite setup",
			p:       broken[0].Error,
			message: `service db: not ready after 30s: dial tcp 127.0.0.1:32771: connection refused\nlast log line: FATAL:  data directory has wrong ownership`,
			typ:     "infrastructure",
			inBody:  []string{"last log line: FATAL:  data directory has wrong ownership\n\nservices:\n  db (postgres, postgres:16) ready in 30.000s\n"},
		},
		{
			name:    "not run after setup failed",
			p:       broken[1].Skipped,
			message: "not run: the suite's services did not start",
		},
	}
	for _, pr := range problems {
		if pr.p == nil {
			t.Errorf("%s: element missing", pr.name)
			continue
		}
		if pr.p.Message != pr.message {
			t.Errorf("%s: message\n  %q\nwant\n  %q", pr.name, pr.p.Message, pr.message)
		}
		if pr.p.Type != pr.typ {
			t.Errorf("%s: type %q, want %q", pr.name, pr.p.Type, pr.typ)
		}
		for _, s := range pr.inBody {
			if !strings.Contains(pr.p.Body, s) {
				t.Errorf("%s: body lacks\n%s\nbody:\n%s", pr.name, s, pr.p.Body)
			}
		}
	}
	if broken[0].Time != "30.012" {
		t.Errorf("(setup) time %q, want the suite's 30.012", broken[0].Time)
	}

	outs := []struct {
		c    xCase
		want []string
	}{
		{users[0], []string{
			"clean-state reset: 2.2ms\n[passed] step 1 \"insert\" (sql on db) in 12.3ms at examples/users.cleanroom.toml:30:1\n  rows (1):\n    [1]\n  rows affected: 1\n  captured:\n    user_id = 1\n",
			`    [9223372036854775807,18446744073709551615,1267650600228229401496703205376,0.1,"NaN","-Inf",true,null]`,
			`  reply: ["OK",2,null,{"$base64":"3q2+7w=="},{"k":1}]`,
			"  headers:\n    Content-Length: 24\n    Content-Type: text/html\n  body:\n    <h1>hello</h1>\n    <p>ok</p>\n",
		}},
		{users[1], []string{
			"  attempts: 2\n  failed expectations: 2\n  exit code: 3\n  stdout:\n    hello\n    \\x1b[31mred\\x1b[0m\\x00\n    world ]]> end\n  stderr: warn \\xff\\xfe\n",
			"[skipped] step 3 \"after\" (exec on web) at examples/users.cleanroom.toml:63:1\n",
		}},
		{users[2], []string{"[error] step 2 \"slow\" (exec on web) in 5.000s at examples/users.cleanroom.toml:70:1\n  attempts: 3\n"}},
	}
	for _, o := range outs {
		for _, s := range o.want {
			if !strings.Contains(o.c.SystemOut, s) {
				t.Errorf("case %q: system-out lacks\n%s\nsystem-out:\n%s", o.c.Name, s, o.c.SystemOut)
			}
		}
	}
}

func caseKind(c xCase) string {
	var kinds []string
	if c.Failure != nil {
		kinds = append(kinds, "failure")
	}
	if c.Error != nil {
		kinds = append(kinds, "error")
	}
	if c.Skipped != nil {
		kinds = append(kinds, "skipped")
	}
	if len(kinds) == 0 {
		return "pass"
	}
	return strings.Join(kinds, "+")
}

// nasty are strings that break XML writers: characters XML 1.0 forbids,
// invalid UTF-8, CDATA terminators, markup.
var nasty = []string{
	"\x00", "\x01\x02\x03", "\x1b[31mred\x1b[0m", "\x7f", "\x08\x0b\x0c",
	"\xff", "\xfe\xff", "\xc3\x28", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
	"\uFFFE\uFFFF", "\uFFFD", "\u0085\u2028", "\U0001F600",
	"]]>", "]]]]>", "<![CDATA[x]]>", "]]", "<!-- -->", "<a>&amp;&#0;&#x1;</a>",
	`"'<>&`, "\r\n\r", "\t", "",
	strings.Repeat("\x00\xff]]>", 1000),
}

// runWith puts s in every string of a run.
func runWith(s string) *Run {
	step := func(st Status) *Step {
		return &Step{
			Name: s, Kind: s, Service: s, Status: st, Attempts: 2, Pos: s, Error: s,
			Output: &Output{
				ExitCode: ptr(1), Stdout: s, Stderr: s, Body: s, Status: 500,
				Rows:    [][]any{{s, []byte(s)}},
				Reply:   s,
				Headers: map[string]string{s: s},
			},
			Failures: []*Failure{{Check: s, Expected: s, Got: s, Diff: s, Pos: s}},
			Captured: map[string]string{s: s},
		}
	}
	r := &Run{
		Cleanroom: s, Backend: s, EngineVersion: s, Status: Failed,
		Suites: []*Suite{
			{
				Name: s, File: s, Session: s, Status: Failed, Error: s,
				Services: []*Service{{Name: s, Kind: s, Image: s, Address: s}},
				Scenarios: []*Scenario{
					{Name: s, Status: Failed, Steps: []*Step{step(Failed), step(Passed)}},
					{Name: s, Status: Errored, Error: s, Steps: []*Step{step(Errored)}},
					{Name: s, Status: Skipped, Error: s},
					{Name: s, Status: Passed, Steps: []*Step{step(Passed)}},
				},
			},
		},
	}
	return r
}

func TestJUnitAlwaysParses(t *testing.T) {
	for i, s := range nasty {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			checkParses(t, runWith(s))
		})
	}
}

func FuzzJUnit(f *testing.F) {
	for _, s := range nasty {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkParses(t, runWith(s))
	})
}

// checkParses writes r as JUnit and reads every token back with a strict
// XML parser, then checks the shape CI systems expect.
func checkParses(t *testing.T, r *Run) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(buf.Bytes()) {
		t.Fatalf("report is not valid UTF-8")
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("does not parse: %v\n%q", err, buf.Bytes())
		}
	}
	for _, c := range buf.String() {
		if !xmlChar(c, utf8.RuneLen(c)) {
			t.Fatalf("character %U, which XML 1.0 forbids, in\n%q", c, buf.Bytes())
		}
	}
	if errs := checkJUnitShape(buf.Bytes()); len(errs) > 0 {
		t.Fatalf("shape:\n%s\n%s", strings.Join(errs, "\n"), buf.Bytes())
	}
}

func TestJUnitShape(t *testing.T) {
	runs := map[string]*Run{
		"fixture":                 testRun(),
		"empty":                   {},
		"nasty":                   runWith("\x00]]>\xff"),
		"suite without scenarios": {Suites: []*Suite{{Name: "s", File: "s.cleanroom.toml"}}},
	}
	for name, r := range runs {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteJUnit(&buf, r); err != nil {
				t.Fatal(err)
			}
			for _, e := range checkJUnitShape(buf.Bytes()) {
				t.Error(e)
			}
		})
	}
}

func TestJUnitTruncates(t *testing.T) {
	big := strings.Repeat("line of output ü\n", 20000) // 360 KB
	rows := make([][]any, 50000)
	for i := range rows {
		rows[i] = []any{int64(i), "row"}
	}
	r := &Run{Suites: []*Suite{{
		Name: "big",
		Scenarios: []*Scenario{{
			Name: "loud", Status: Failed,
			Steps: []*Step{
				{Name: "exec", Status: Failed, Output: &Output{Stdout: big, Stderr: big},
					Failures: []*Failure{{Check: "stdout", Expected: "", Got: big}}},
				{Name: "sql", Status: Passed, Output: &Output{Rows: rows}},
				{Name: "body", Status: Passed, Output: &Output{Body: strings.Repeat("\x00", StepOutputLimit)}},
			},
		}},
	}}}
	doc, _ := readJUnit(t, r)
	c := doc.Suites[0].Cases[0]
	steps := strings.Split(c.SystemOut, "[passed] ")
	if len(steps) != 3 {
		t.Fatalf("system-out has %d parts, want 3", len(steps))
	}
	const room = 200 // for the notes
	for i, s := range steps {
		if len(s) > StepOutputLimit+room {
			t.Errorf("step %d: %d bytes in system-out, want at most about %d", i+1, len(s), StepOutputLimit)
		}
		if !strings.Contains(s, "not shown; the JSON report has them all]") {
			t.Errorf("step %d: no note that output was cut:\n%s", i+1, s[max(0, len(s)-300):])
		}
	}
	if !strings.Contains(steps[1], "more rows not shown") {
		t.Errorf("rows: no note on rows left out")
	}
	if len(c.Failure.Body) > StepOutputLimit+room || !strings.Contains(c.Failure.Body, "more bytes not shown") {
		t.Errorf("failure body: %d bytes, note present: %v", len(c.Failure.Body), strings.Contains(c.Failure.Body, "more bytes not shown"))
	}
	if len(c.Failure.Message) > 400 {
		t.Errorf("failure message is %d bytes long", len(c.Failure.Message))
	}
}

func TestWriteJUnitNil(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, nil); err == nil || buf.Len() != 0 {
		t.Errorf("nil run: err=%v, wrote %d bytes", err, buf.Len())
	}
}

func TestXMLSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text\twith\ttabs\r\n", "plain text\twith\ttabs\r\n"},
		{"\x1b[1mbold\x1b[0m", `\x1b[1mbold\x1b[0m`},
		{"nul\x00", `nul\x00`},
		{"del\x7f", `del\x7f`},
		{"bad \xff\xfe bytes", `bad \xff\xfe bytes`},
		{"cut \xe2\x82", `cut \xe2\x82`},
		{"surrogate \xed\xa0\x80", `surrogate \xed\xa0\x80`},
		{"nonchar \uFFFE\uFFFF", `nonchar \uFFFE\uFFFF`},
		{"kept: é ü 😀 \uFFFD \u0085", "kept: é ü 😀 \uFFFD \u0085"},
	}
	for _, tt := range tests {
		if got := xmlSafe(tt.in); got != tt.want {
			t.Errorf("xmlSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// checkJUnitShape holds a JUnit report to the schema CI systems read.
//
// There is no network here to fetch an XSD, so the key constraints are
// written out below from junit-10.xsd, the schema the Jenkins xUnit plugin
// validates JUnit files with (jenkinsci/xunit-plugin, src/main/resources/
// org/jenkinsci/plugins/xunit/types/model/xsd/junit-10.xsd): which
// attributes each element may carry and which it must, which children it
// may have, and the SUREFIRE_TIME pattern of time attributes. Where
// Ant-derived schemas (the older JUnit.xsd, which GitLab's and Jenkins'
// documentation point to) are stricter, the stricter rule is used: a
// <testsuite>'s children in the order properties, testcase*, system-out,
// system-err; <testcase> requiring classname and time; timestamps without
// a zone. On top of the schema it checks what readers compute from the
// file: the counts of a <testsuite> match its test cases, and the
// <testsuites> totals match the suites.
//
// junit-10.xsd allows no "skipped" attribute on <testsuites>, so the
// writer leaves it out; the per-suite counts carry it.
func checkJUnitShape(data []byte) []string {
	root, err := parseTree(data)
	if err != nil {
		return []string{err.Error()}
	}
	var errs []string
	fail := func(n *node, format string, args ...any) {
		errs = append(errs, n.path+": "+fmt.Sprintf(format, args...))
	}
	if root.name != "testsuites" {
		fail(root, "root element is <%s>, want <testsuites>", root.name)
		return errs
	}
	var walk func(n *node)
	walk = func(n *node) {
		rule, ok := junitSchema[n.name]
		if !ok {
			fail(n, "element <%s> is not in the schema", n.name)
			return
		}
		for _, a := range n.attrOrder {
			if !slices.Contains(rule.attrs, a) {
				fail(n, "attribute %q is not allowed (allowed: %v)", a, rule.attrs)
			}
		}
		for _, a := range rule.required {
			if _, ok := n.attrs[a]; !ok {
				fail(n, "required attribute %q missing", a)
			}
		}
		for _, a := range []string{"tests", "failures", "errors", "skipped"} {
			if v, ok := n.attrs[a]; ok && !countRE.MatchString(v) {
				fail(n, "%s=%q is not a count", a, v)
			}
		}
		if v, ok := n.attrs["time"]; ok && !surefireTime.MatchString(v) {
			fail(n, "time=%q does not match SUREFIRE_TIME", v)
		}
		if v, ok := n.attrs["timestamp"]; ok && !antTimestamp.MatchString(v) {
			fail(n, "timestamp=%q is not yyyy-mm-ddThh:mm:ss", v)
		}
		if !rule.text && len(bytes.TrimSpace(n.text)) > 0 {
			fail(n, "text content is not allowed: %q", n.text)
		}
		// Children, matched in order against the rule's slots.
		slot, count := 0, 0
		for _, c := range n.children {
			for slot < len(rule.children) && !slices.Contains(rule.children[slot].names, c.name) {
				if count < rule.children[slot].min {
					fail(n, "want at least %d <%s>", rule.children[slot].min, strings.Join(rule.children[slot].names, "|"))
				}
				slot, count = slot+1, 0
			}
			if slot == len(rule.children) {
				fail(c, "element <%s> is not allowed here (order: %v)", c.name, rule.children)
				continue
			}
			count++
			if max := rule.children[slot].max; max > 0 && count > max {
				fail(c, "more than %d <%s>", max, strings.Join(rule.children[slot].names, "|"))
			}
			walk(c)
		}
	}
	walk(root)
	if len(errs) > 0 {
		return errs
	}

	// What readers compute must agree with what the file says.
	var tests, failures, errors int
	for _, s := range root.children {
		var want [4]int // tests, failures, errors, skipped
		for _, c := range s.children {
			if c.name != "testcase" {
				continue
			}
			want[0]++
			for _, p := range c.children {
				switch p.name {
				case "failure":
					want[1]++
				case "error":
					want[2]++
				case "skipped":
					want[3]++
				}
			}
		}
		for i, a := range []string{"tests", "failures", "errors", "skipped"} {
			if got := s.attrs[a]; got != strconv.Itoa(want[i]) {
				fail(s, "%s=%q but the suite has %d", a, got, want[i])
			}
		}
		tests, failures, errors = tests+want[0], failures+want[1], errors+want[2]
		for _, c := range s.children {
			if c.name == "testcase" && c.attrs["classname"] != s.attrs["name"] {
				fail(c, "classname %q is not the suite name %q", c.attrs["classname"], s.attrs["name"])
			}
		}
	}
	for a, want := range map[string]int{"tests": tests, "failures": failures, "errors": errors} {
		if got := root.attrs[a]; got != strconv.Itoa(want) {
			fail(root, "%s=%q but the suites add up to %d", a, got, want)
		}
	}
	return errs
}

var (
	countRE      = regexp.MustCompile(`^[0-9]+$`)
	surefireTime = regexp.MustCompile(`^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$`)
	antTimestamp = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$`)
)

type elementRule struct {
	attrs    []string // allowed
	required []string
	children []slot // in order
	text     bool   // may hold text
}

type slot struct {
	names    []string
	min, max int // max 0: unbounded
}

func (s slot) String() string { return strings.Join(s.names, "|") }

var junitSchema = map[string]elementRule{
	"testsuites": {
		attrs:    []string{"name", "time", "tests", "failures", "errors"},
		children: []slot{{names: []string{"testsuite"}}},
	},
	"testsuite": {
		attrs: []string{"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp",
			"hostname", "id", "package", "file", "log", "url"},
		required: []string{"name", "tests", "failures", "errors"},
		children: []slot{
			{names: []string{"properties"}, max: 1},
			{names: []string{"testcase"}},
			{names: []string{"system-out"}, max: 1},
			{names: []string{"system-err"}, max: 1},
		},
	},
	"properties": {children: []slot{{names: []string{"property"}}}},
	"property":   {attrs: []string{"name", "value"}, required: []string{"name", "value"}},
	"testcase": {
		attrs:    []string{"name", "time", "classname", "group"},
		required: []string{"name", "classname", "time"},
		children: []slot{
			// junit-10.xsd allows these in any number; a test case has
			// one result, and readers take the first they find.
			{names: []string{"skipped", "error", "failure"}, max: 1},
			{names: []string{"system-out"}, max: 1},
			{names: []string{"system-err"}, max: 1},
		},
	},
	"failure":    {attrs: []string{"type", "message"}, text: true},
	"error":      {attrs: []string{"type", "message"}, text: true},
	"skipped":    {attrs: []string{"type", "message"}, text: true},
	"system-out": {text: true},
	"system-err": {text: true},
}

// node is an element of a parsed XML document.
type node struct {
	name      string
	path      string
	attrs     map[string]string
	attrOrder []string
	children  []*node
	text      []byte
}

func parseTree(data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("does not parse: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
				n.attrOrder = append(n.attrOrder, a.Name.Local)
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("two root elements")
				}
				root, n.path = n, n.name
			} else {
				parent := stack[len(stack)-1]
				n.path = fmt.Sprintf("%s/%s[%d]", parent.path, n.name, len(parent.children))
				parent.children = append(parent.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.text = append(top.text, tok...)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element")
	}
	return root, nil
}

package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SetupCase is the name of the synthetic test case that carries a suite's
// Error in a JUnit report: the services did not start, so no scenario ran.
const SetupCase = "(setup)"

// The junit* types are the JUnit XML that Jenkins, GitLab and the GitHub
// test reporters read. Attributes and elements are those of the schema the
// Jenkins xUnit plugin validates with (junit-10.xsd), in the order Ant
// writes them; see TestJUnitShape for what is checked.

type junitSuites struct {
	XMLName  xml.Name      `xml:"testsuites"`
	Name     string        `xml:"name,attr"`
	Tests    int           `xml:"tests,attr"`
	Failures int           `xml:"failures,attr"`
	Errors   int           `xml:"errors,attr"`
	Time     string        `xml:"time,attr"`
	Suites   []*junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr"`
	Time       string           `xml:"time,attr"`
	Timestamp  string           `xml:"timestamp,attr,omitempty"`
	Properties *junitProperties `xml:"properties"`
	Cases      []*junitCase     `xml:"testcase"`
	SystemOut  *junitText       `xml:"system-out"`
}

type junitProperties struct {
	Props []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitSkipped `xml:"skipped"`
	SystemOut *junitText    `xml:"system-out"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

// WriteJUnit writes r as JUnit XML: a <testsuites name="cleanroom"> with
// one <testsuite> per suite file and one <testcase> per scenario, its
// classname the suite's name. A failed scenario carries a <failure
// type="expectation"> whose message is its first failed expectation and
// whose body lists every failed step; an errored one an <error
// type="infrastructure">; a skipped one <skipped/>. Each test case's
// <system-out> shows its steps and their outputs, at most StepOutputLimit
// bytes a step. A suite whose services did not start gets a test case
// named SetupCase with the error. Every string is made valid XML 1.0
// first (see xmlSafe), so the file always parses. Nothing is written if
// encoding fails.
func WriteJUnit(w io.Writer, r *Run) error {
	if r == nil {
		return errors.New("report: WriteJUnit of a nil run")
	}
	doc := toJUnit(r)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: encoding JUnit: %w", err)
	}
	buf.WriteString("\n")
	_, err := w.Write(buf.Bytes())
	return err
}

func toJUnit(r *Run) *junitSuites {
	doc := &junitSuites{Name: "cleanroom", Time: seconds(r.DurationMS)}
	for _, s := range r.Suites {
		if s == nil {
			continue
		}
		js := junitSuiteOf(r, s)
		doc.Suites = append(doc.Suites, js)
		doc.Tests += js.Tests
		doc.Failures += js.Failures
		doc.Errors += js.Errors
	}
	return doc
}

func junitSuiteOf(r *Run, s *Suite) *junitSuite {
	name := xmlSafe(s.Name)
	js := &junitSuite{
		Name: name,
		Time: seconds(s.DurationMS),
	}
	if !s.Started.IsZero() {
		// Ant's form, which every reader parses: no zone, so UTC.
		js.Timestamp = s.Started.UTC().Format("2006-01-02T15:04:05")
	}
	props := []junitProperty{
		{"file", s.File},
		{"seed", strconv.FormatInt(s.Seed, 10)},
		{"session_id", s.Session},
		{"cleanroom_version", r.Cleanroom},
		{"backend", r.Backend},
		{"engine_version", r.EngineVersion},
	}
	js.Properties = &junitProperties{}
	for _, p := range props {
		if p.Value != "" {
			js.Properties.Props = append(js.Properties.Props, junitProperty{p.Name, xmlSafe(p.Value)})
		}
	}
	if s.Error != "" {
		js.Cases = append(js.Cases, &junitCase{
			Name:      SetupCase,
			Classname: name,
			Time:      seconds(s.DurationMS),
			Error: &junitProblem{
				Message: xmlSafe(oneLine(s.Error, 300)),
				Type:    "infrastructure",
				Body:    truncated(xmlSafe(setupText(s)), StepOutputLimit),
			},
		})
		js.Errors++
	}
	for _, sc := range s.Scenarios {
		if sc == nil {
			continue
		}
		jc := &junitCase{
			Name:      xmlSafe(sc.Name),
			Classname: name,
			Time:      seconds(sc.DurationMS),
		}
		switch sc.Status {
		case Failed:
			jc.Failure = problem(sc, "expectation")
			js.Failures++
		case Errored:
			jc.Error = problem(sc, "infrastructure")
			js.Errors++
		case Skipped:
			jc.Skipped = &junitSkipped{}
			switch {
			case sc.Error != "":
				jc.Skipped.Message = xmlSafe(oneLine(sc.Error, 300))
			case s.Error != "":
				jc.Skipped.Message = "not run: the suite's services did not start"
			}
			js.Skipped++
		}
		if out := scenarioText(sc) + attachments(scenarioFiles(sc)); out != "" {
			jc.SystemOut = &junitText{out}
		}
		js.Cases = append(js.Cases, jc)
	}
	js.Tests = len(js.Cases)
	if len(s.Services) > 0 {
		var logs []string
		for _, sv := range s.Services {
			if sv != nil && sv.Log != "" {
				logs = append(logs, sv.Log)
			}
		}
		js.SystemOut = &junitText{xmlSafe(servicesText(s) + attachments(logs))}
	}
	return js
}

// scenarioFiles are a scenario's files in the run's output folder: its
// steps' outputs and what was copied out of its services.
func scenarioFiles(sc *Scenario) []string {
	var out []string
	for _, st := range sc.Steps {
		if st != nil && st.OutputFile != "" {
			out = append(out, st.OutputFile)
		}
	}
	return append(out, sc.Artifacts...)
}

// attachments links files of the run's output folder the way CI servers
// read them from <system-out> (Jenkins' JUnit attachments, GitLab):
// "[[ATTACHMENT|path]]", one a line, the path relative to the folder.
func attachments(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "[[ATTACHMENT|%s]]\n", xmlSafe(p))
	}
	return b.String()
}

// problem is the <failure> or <error> of a scenario: the message names the
// first step that went wrong and what went wrong, the body every such step.
// A scenario's own Error (its clean state could not be restored) comes
// first, and is the message of an <error>: no step result explains it.
func problem(sc *Scenario, typ string) *junitProblem {
	var first *Step
	problems := 0
	var body strings.Builder
	if sc.Error != "" {
		block(&body, "", "scenario error", sc.Error)
		problems++
	}
	for i, st := range sc.Steps {
		if st == nil || !wentWrong(st) {
			continue
		}
		if first == nil || (typ == "infrastructure" && first.Status != Errored && st.Status == Errored) {
			first = st
		}
		problems += max(len(st.Failures), 1)
		if body.Len() > 0 {
			body.WriteString("\n")
		}
		body.WriteString(failureText(i+1, st))
	}
	p := &junitProblem{Type: typ}
	switch {
	case sc.Error != "" && (first == nil || typ == "infrastructure"):
		p.Message = oneLine(sc.Error, 300)
		if problems > 1 {
			p.Message += fmt.Sprintf(" (and %d more)", problems-1)
		}
	case first == nil:
		p.Message = fmt.Sprintf("scenario %s", sc.Status)
	default:
		p.Message = fmt.Sprintf("step %q: %s", first.Name, failureLine(first))
		if problems > 1 {
			p.Message += fmt.Sprintf(" (and %d more)", problems-1)
		}
	}
	p.Message = xmlSafe(p.Message)
	p.Body = truncated(xmlSafe(body.String()), StepOutputLimit)
	return p
}

func wentWrong(st *Step) bool {
	return st.Status == Failed || st.Status == Errored || len(st.Failures) > 0 || st.Error != ""
}

func scenarioText(sc *Scenario) string {
	var b strings.Builder
	if sc.ResetMS > 0 {
		fmt.Fprintf(&b, "clean-state reset: %s\n", millis(sc.ResetMS))
	}
	for i, st := range sc.Steps {
		if st == nil {
			continue
		}
		b.WriteString(stepText(i+1, st))
	}
	return b.String()
}

func setupText(s *Suite) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(s.Error, "\n") + "\n")
	if len(s.Services) > 0 {
		b.WriteString("\n" + servicesText(s))
	}
	return b.String()
}

func servicesText(s *Suite) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, sv := range s.Services {
		if sv == nil {
			continue
		}
		fmt.Fprintf(&b, "  %s (%s, %s)", sv.Name, sv.Kind, sv.Image)
		if sv.Address != "" {
			fmt.Fprintf(&b, " at %s", sv.Address)
		}
		fmt.Fprintf(&b, " ready in %s", millis(sv.ReadyMS))
		if sv.Restarts > 0 {
			fmt.Fprintf(&b, ", restarts: %d", sv.Restarts)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// seconds is a duration in milliseconds as JUnit's time attribute:
// seconds with three decimals, never negative or exponential (the pattern
// of junit-10.xsd admits neither).
func seconds(v float64) string {
	v = ms(v)
	if v < 0 {
		v = 0
	}
	return strconv.FormatFloat(v/1000, 'f', 3, 64)
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/runner"
)

// These tests run the real command against the real engine: they are the
// proof that `cleanroom run` works end to end.

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if len(args) > 0 && args[0] == "run" && !slices.Contains(args, "--out") {
		// Not into the package's directory.
		args = append([]string{"run", "--out", t.TempDir()}, args[1:]...)
	}
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func readReport(t *testing.T, path string) *report.Run {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func TestRunExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	jsonPath, junitPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.xml")
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCLI(t, "run", "-j", "2", "--out", out, "--report-json", jsonPath, "--report-junit", junitPath, "../../examples")
	if code != exitPassed {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, " passed, 0 failed") {
		t.Errorf("summary line missing from output:\n%s", stdout)
	}

	run := readReport(t, jsonPath)
	if run.Backend != "docker" || run.EngineVersion == "" || run.Cleanroom == "" {
		t.Errorf("report: backend %q, engine %q, cleanroom %q; want docker with its version", run.Backend, run.EngineVersion, run.Cleanroom)
	}
	if run.Status != report.Passed || run.Summary.Failed != 0 || run.Summary.Passed < 10 {
		t.Errorf("report: status %s, summary %+v; want passed with at least 10 scenarios", run.Status, run.Summary)
	}
	suites := map[string]*report.Suite{}
	for _, s := range run.Suites {
		suites[s.Name] = s
		if s.Session == "" || len(s.Services) == 0 && s.Name != "quickstart" {
			t.Errorf("suite %s: session %q, %d services", s.Name, s.Session, len(s.Services))
		}
	}
	// The application service, not only the runner, sees the database
	// reset in place: its count is 0 again in the second scenario.
	app := suites["app"]
	if app == nil || len(app.Scenarios) != 2 || app.Scenarios[1].Status != report.Passed {
		t.Fatalf("app suite: %+v", app)
	}
	if got := app.Scenarios[1].Steps[0].Output.Body; !strings.Contains(got, `"count": 0`) {
		t.Errorf("app's count in the second scenario: %q, want 0", got)
	}
	if users := suites["users"]; users == nil || users.Seed != 42 {
		t.Errorf("users suite seed: want 42 from the file, got %+v", users)
	}
	checkPolicyRecords(t, suites, filepath.Join(out, "audit.jsonl"))

	// The JUnit report parses and has one testcase per scenario.
	b, err := os.ReadFile(junitPath)
	if err != nil {
		t.Fatal(err)
	}
	var ju struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &ju); err != nil {
		t.Fatalf("JUnit report does not parse: %v", err)
	}
	cases := 0
	for _, s := range ju.Suites {
		for _, c := range s.Cases {
			cases++
			if c.Classname != s.Name {
				t.Errorf("testcase %q: classname %q, want the suite %q", c.Name, c.Classname, s.Name)
			}
		}
	}
	if cases != run.Summary.Passed {
		t.Errorf("JUnit has %d testcases, JSON %d passed scenarios", cases, run.Summary.Passed)
	}
	assertNoSessionLeft(t, run)
}

func TestRunFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	code, stdout, stderr := runCLI(t, "run", "--report-json", jsonPath, "testdata/run/failing.cleanroom.toml")
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
	for _, want := range []string{
		"FAIL failing / wrong output / multi-line mismatch testdata/run/failing.cleanroom.toml:",
		"-TWO", "+two", // the diff of the multi-line stdout
		"timed out after 300ms",
		"0 passed, 3 failed",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "cleanroom: 3 scenarios failed") {
		t.Errorf("stderr: %q", stderr)
	}

	run := readReport(t, jsonPath)
	sc := run.Suites[0].Scenarios
	if got := sc[0].Steps[1].Status; got != report.Skipped {
		t.Errorf("step after a failure: %s, want skipped", got)
	}
	// The timed-out exec was killed: the next step finds no sleeper.
	if st := sc[1].Steps[0]; st.Status != report.Failed || !strings.Contains(st.Error, "timed out") {
		t.Errorf("timeout step: %s %q", st.Status, st.Error)
	}
	if st := sc[1].Steps[1]; st.Status != report.Passed {
		t.Errorf("the process of the timed-out step still runs: %+v", st.Output)
	}
	// continue_on_failure runs the next step; retries count attempts.
	if st := sc[2].Steps[1]; st.Status != report.Passed || st.Attempts != 3 {
		t.Errorf("retried step: %s after %d attempts, want passed after 3", st.Status, st.Attempts)
	}
	assertNoSessionLeft(t, run)
}

func TestRunExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"invalid suite", []string{"run", "testdata/run/invalid.cleanroom.toml"}, exitInvalid,
			`testdata/run/invalid.cleanroom.toml:14:1: unknown key "expct" — did you mean "expect"?`},
		{"bad flag", []string{"run", "--jobs", "0", "testdata/run"}, exitInvalid, "--jobs must be at least 1"},
		{"bad filter", []string{"run", "--run", "(", "testdata/run"}, exitInvalid, "--run:"},
		{"no suites", []string{"run", t.TempDir()}, exitInvalid, "no *.cleanroom.toml files"},
		{"missing image", []string{"run", "testdata/run/missing-image.cleanroom.toml"}, exitInfra,
			`cleanroom-fixtures/does-not-exist:0: not present on the engine and the pull policy is "never"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr+stdout, tt.stderr) {
				t.Errorf("exit %d, want %d; want %q in output\nstdout:\n%s\nstderr:\n%s", code, tt.code, tt.stderr, stdout, stderr)
			}
		})
	}
}

func TestRunFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	code, stdout, _ := runCLI(t, "run", "--run", "captures", "--report-json", jsonPath, "../../examples/quickstart")
	if code != exitPassed {
		t.Fatalf("exit %d\n%s", code, stdout)
	}
	run := readReport(t, jsonPath)
	if run.Summary.Passed != 1 || run.Summary.Skipped != 1 {
		t.Errorf("--run captures: summary %+v, want 1 passed and 1 skipped", run.Summary)
	}
	if !strings.Contains(stdout, "1 passed, 0 failed, 1 skipped") {
		t.Errorf("summary line:\n%s", stdout)
	}
}

// assertNoSessionLeft checks on the engine that the run removed every
// container and network of its sessions.
func assertNoSessionLeft(t *testing.T, run *report.Run) {
	t.Helper()
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	for _, s := range run.Suites {
		if s.Session == "" {
			continue
		}
		f := client.Filters{}.Add("label", "dev.cleanroom.session="+s.Session)
		cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs.Items)+len(ns.Items) > 0 {
			t.Errorf("suite %s left %d container(s) and %d network(s) of session %s", s.Name, len(cs.Items), len(ns.Items), s.Session)
		}
	}
}

// checkPolicyRecords: every service's effective policy is in the JSON report
// and in the audit log, one line per container, and the locked-down example
// ran strict with its resources measured.
func checkPolicyRecords(t *testing.T, suites map[string]*report.Suite, auditPath string) {
	t.Helper()
	b, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]runner.AuditRecord{} // session/container → record
	for line := range strings.Lines(string(b)) {
		var rec runner.AuditRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		audited[rec.Session+"/"+rec.Container] = rec
	}
	for _, s := range suites {
		for _, svc := range s.Services {
			rec, ok := audited[s.Session+"/"+svc.Name]
			if !ok || rec.Kind != "service" || rec.Policy.Preset == "" {
				t.Errorf("audit log: no record of service %s of suite %s (%+v)", svc.Name, s.Name, rec)
			}
			if svc.Policy == nil || svc.Policy.Network != policy.Isolated {
				t.Errorf("report: service %s of suite %s has policy %+v, want the effective one", svc.Name, s.Name, svc.Policy)
			}
		}
	}
	locked := suites["locked-down"]
	if locked == nil {
		t.Fatal("the locked-down example did not run")
	}
	for _, svc := range locked.Services {
		p := svc.Policy
		if p.Preset != policy.Strict || !p.ReadOnlyRootfs || p.Memory == 0 || svc.Resources == nil || svc.Resources.Samples == 0 {
			t.Errorf("locked-down service %s: policy %+v, resources %+v", svc.Name, p, svc.Resources)
		}
	}
	if rec := audited[locked.Session+"/no network at all"]; rec.Kind != "one-shot" || rec.Policy.Network != policy.None {
		t.Errorf("audit of the one-shot step under network none: %+v", rec)
	}
}

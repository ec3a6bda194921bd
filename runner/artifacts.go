package runner

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/cleanroomhq/cleanroom/artifact"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/snapshot"
	"github.com/cleanroomhq/cleanroom/suite"
)

// The run's output folder (Options.Artifacts) gets, per suite:
//
//	<suite>/<scenario>/<NN>-<step>.txt       each step's whole output
//	<suite>/<scenario>/files/<service>/…     files named by a service's artifacts
//	<suite>/services/<service>.log           each service's output
//
// All of it redacted, and listed in the folder's index.json.

// suiteDir is the suite's folder inside the output folder.
func (sr *suiteRun) suiteDir() string { return artifact.Name(sr.suite.Name.Value) }

// saveStepOutput writes a step's output in full (the report keeps it too,
// but a file is what one opens, greps and attaches).
func (sr *suiteRun) saveStepOutput(sc *report.Scenario, i int, st *report.Step) {
	dir := sr.opts.Artifacts
	if dir == nil || sr.repeating || st.Output == nil {
		return
	}
	text := outputText(st)
	if text == "" {
		return
	}
	rel := path.Join(sr.suiteDir(), artifact.Name(sc.Name), fmt.Sprintf("%02d-%s.txt", i+1, artifact.Name(st.Name)))
	if _, err := dir.Write(rel, []byte(sr.shared.secrets.String(text)), artifact.Entry{
		Kind: "step-output", Suite: sr.suite.Name.Value, Scenario: sc.Name, Step: st.Name, Service: st.Service,
	}); err != nil {
		sr.obs.Log("artifacts: %v", err)
		return
	}
	st.OutputFile = rel
}

// outputText is a step's output as a person reads it.
func outputText(st *report.Step) string {
	o := st.Output
	var b strings.Builder
	if o.ExitCode != nil {
		fmt.Fprintf(&b, "exit code: %d\n", *o.ExitCode)
	}
	section := func(name, text string) {
		if text != "" {
			fmt.Fprintf(&b, "--- %s\n%s", name, text)
			if !strings.HasSuffix(text, "\n") {
				b.WriteByte('\n')
			}
		}
	}
	section("stdout", o.Stdout)
	section("stderr", o.Stderr)
	if o.Rows != nil {
		section("rows", snapshot.Canonical(plainRows(o.Rows)))
	}
	if o.Reply != nil {
		section("reply", snapshot.Canonical(report.JSONValue(o.Reply)))
	}
	if o.Status != 0 {
		fmt.Fprintf(&b, "status: %d\n", o.Status)
		for _, k := range slices.Sorted(maps.Keys(o.Headers)) {
			fmt.Fprintf(&b, "%s: %s\n", k, o.Headers[k])
		}
	}
	section("body", o.Body)
	return b.String()
}

// collectArtifacts copies the files services name in `artifacts` out of
// their containers at the end of a scenario: after a failed one, or after
// every one with collect = "always".
func (sr *suiteRun) collectArtifacts(ctx context.Context, sc *suite.Scenario, rep *report.Scenario) {
	dir := sr.opts.Artifacts
	if dir == nil || sr.repeating {
		return
	}
	failed := rep.Status != report.Passed
	for _, decl := range sr.suite.Services {
		r := sr.services[decl.Name]
		if r == nil || len(decl.Artifacts) == 0 || (decl.Collect.Value != suite.CollectAlways && !failed) {
			continue
		}
		for _, f := range decl.Artifacts {
			data, err := r.inst.Container.CopyFrom(context.WithoutCancel(ctx), f.Value)
			if err != nil {
				sr.obs.Log("artifacts: %s of service %s: %v", f.Value, decl.Name, err)
				continue
			}
			rel := path.Join(sr.suiteDir(), artifact.Name(sc.Name.Value), "files", artifact.Name(decl.Name), strings.TrimPrefix(path.Clean(f.Value), "/"))
			if _, err := dir.Write(rel, []byte(sr.shared.secrets.String(string(data))), artifact.Entry{
				Kind: "file", Suite: sr.suite.Name.Value, Scenario: sc.Name.Value, Service: decl.Name,
			}); err != nil {
				sr.obs.Log("artifacts: %v", err)
				continue
			}
			rep.Artifacts = append(rep.Artifacts, rel)
		}
	}
}

// saveServiceLogs writes every service's output at the end of the suite,
// before its containers are removed.
func (sr *suiteRun) saveServiceLogs(ctx context.Context) {
	dir := sr.opts.Artifacts
	if dir == nil {
		return
	}
	for _, decl := range sr.suite.Services {
		r := sr.services[decl.Name]
		if r == nil {
			continue
		}
		data, err := serviceLog(ctx, r.inst.Container)
		if err != nil {
			sr.obs.Log("artifacts: log of service %s: %v", decl.Name, err)
			continue
		}
		rel := path.Join(sr.suiteDir(), "services", artifact.Name(decl.Name)+".log")
		if _, err := dir.Write(rel, []byte(sr.shared.secrets.String(string(data))), artifact.Entry{
			Kind: "service-log", Suite: sr.suite.Name.Value, Service: decl.Name,
		}); err != nil {
			sr.obs.Log("artifacts: %v", err)
			continue
		}
		r.rep.Log = rel
	}
}

// serviceLog is a container's output, timestamped when the backend can.
func serviceLog(ctx context.Context, c backend.Container) ([]byte, error) {
	if t, ok := c.(backend.TimedLogger); ok {
		return t.TimedLogs(ctx)
	}
	rc, err := c.Logs(ctx, false)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

package runner

import (
	"fmt"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/snapshot"
	"github.com/cleanroomhq/cleanroom/suite"
)

// snapshotFile opens the suite's snapshot file once; a file that does not
// parse is an error for every step that would use it.
func (sr *suiteRun) snapshotFile() (*snapshot.File, error) {
	if sr.snaps == nil && sr.snapErr == nil {
		sr.snaps, sr.snapErr = snapshot.Open(snapshot.PathFor(sr.suite.File, sr.suite.Name.Value))
	}
	return sr.snaps, sr.snapErr
}

// snapshotValue is what a step's snapshot holds: stdout of an exec, the
// rows of a query, a Redis reply, an HTTP body (JSON with sorted keys).
func snapshotValue(o *report.Output) string {
	switch {
	case o == nil:
		return ""
	case o.ExitCode != nil:
		return o.Stdout
	case o.Rows != nil:
		return snapshot.Canonical(report.JSONValue(o.Rows)) + "\n"
	case o.Reply != nil:
		return snapshot.Canonical(report.JSONValue(o.Reply)) + "\n"
	}
	return body(o.Body)
}

// checkSnapshot compares a passing step's normalized, redacted output with
// its snapshot, writing it when asked (or when it is new and not in CI).
// A mismatch, or a snapshot missing in CI, fails the step.
func (sr *suiteRun) checkSnapshot(st *suite.Step, rep *report.Step) {
	name := st.Snapshot.Value
	f, err := sr.snapshotFile()
	if err != nil {
		rep.Status, rep.Error = report.Failed, fmt.Sprintf("snapshot %q: %v", name, err)
		return
	}
	got := sr.shared.secrets.String(sr.normalizer().String(snapshotValue(rep.Output)))
	res := f.Check(name, got, sr.opts.Snapshots)
	rep.Snapshot = &report.Snapshot{Name: name, File: f.Path(), Status: string(res.Status)}
	switch res.Status {
	case snapshot.Mismatch:
		rep.Status = report.Failed
		rep.Failures = append(rep.Failures, &report.Failure{
			Check: "snapshot " + name, Expected: res.Want, Got: res.Got, Diff: res.Diff, Pos: st.Snapshot.Pos.String(),
		})
	case snapshot.Missing:
		rep.Status = report.Failed
		rep.Error = fmt.Sprintf("snapshot %q is not in %s, and CI is set, so it was not written: run `cleanroom run --update-snapshots` and commit the file", name, f.Path())
	case snapshot.Created, snapshot.Updated:
		rep.Notes = append(rep.Notes, fmt.Sprintf("snapshot %q %s in %s", name, res.Status, f.Path()))
	}
}

// saveSnapshots writes the suite's snapshot file when a check changed it.
func (sr *suiteRun) saveSnapshots() {
	if sr.snaps == nil {
		return
	}
	if err := sr.snaps.Save(); err != nil {
		sr.rep.Status = report.Errored
		sr.rep.Error = fmt.Sprintf("writing snapshots: %v", err)
	}
}

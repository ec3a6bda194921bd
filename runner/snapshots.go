package runner

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cleanroomhq/cleanroom/errs"
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
		return withNewline(snapshot.Canonical(plainRows(o.Rows)))
	case o.Reply != nil:
		return withNewline(snapshot.Canonical(report.JSONValue(o.Reply)))
	}
	return body(o.Body)
}

func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
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
	// Redacted before normalized: a normalizer that rewrote part of a
	// secret would hide it from the redactor.
	got := sr.normalizer().String(sr.shared.secrets.String(snapshotValue(rep.Output)))
	mode := sr.opts.Snapshots
	if sr.repeating {
		// Later runs of --repeat compare with what the first run saw (or
		// wrote) and write nothing: the first run alone updates, and a
		// step whose output differs shows as nondeterministic.
		mode = snapshot.Mode{CI: true}
	}
	res := f.Check(name, got, mode)
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
		if sr.snapPrev == nil {
			sr.snapPrev = map[string]*string{}
		}
		if _, ok := sr.snapPrev[name]; !ok {
			var prev *string
			if res.Status == snapshot.Updated {
				prev = &res.Want
			}
			sr.snapPrev[name] = prev
		}
	}
}

// undoSnapshot takes back what a step wrote to its snapshot once --repeat
// showed the step to be nondeterministic: a snapshot of one arbitrary run
// would only fail the next.
func (sr *suiteRun) undoSnapshot(st *suite.Step, rep *report.Step) {
	if rep.Snapshot == nil || sr.snaps == nil {
		return
	}
	prev, wrote := sr.snapPrev[rep.Snapshot.Name]
	if !wrote {
		return
	}
	if prev == nil {
		sr.snaps.Delete(rep.Snapshot.Name)
	} else {
		sr.snaps.Set(rep.Snapshot.Name, *prev)
	}
	delete(sr.snapPrev, rep.Snapshot.Name)
	rep.Notes = append(rep.Notes, fmt.Sprintf("snapshot %q not written: the step is nondeterministic", st.Snapshot.Value))
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

// CheckSnapshots rejects two suites that would share one snapshot file
// (same directory, same name) while either has snapshot steps: their
// entries would mix, and with --jobs one write would undo the other. Run
// makes the same check and does not run such a suite.
func CheckSnapshots(suites []*suite.Suite) error {
	var list errs.ValidationErrors
	conflicts := snapshotConflicts(suites)
	for i, s := range suites {
		if msg, ok := conflicts[i]; ok {
			list = append(list, &errs.ValidationError{Pos: suitePos(s), Message: msg})
		}
	}
	return list.Err()
}

// snapshotConflicts maps the index of each suite that would share its
// snapshot file with an earlier one to why. Paths are compared absolute
// and without case, as a case-insensitive file system would see them.
func snapshotConflicts(suites []*suite.Suite) map[int]string {
	out := map[int]string{}
	first := map[string]*suite.Suite{}
	for i, s := range suites {
		path := snapshot.PathFor(s.File, s.Name.Value)
		key := path
		if abs, err := filepath.Abs(path); err == nil {
			key = abs
		}
		key = strings.ToLower(key)
		other, ok := first[key]
		if !ok {
			first[key] = s
			continue
		}
		if usesSnapshots(s) || usesSnapshots(other) {
			out[i] = fmt.Sprintf("suite %q would share the snapshot file %s with %s: give one of them another name", s.Name.Value, path, other.File)
		}
	}
	return out
}

func usesSnapshots(s *suite.Suite) bool {
	for _, sc := range s.Scenarios {
		for _, st := range sc.Steps {
			if st.Snapshot.IsSet() {
				return true
			}
		}
	}
	return false
}

func suitePos(s *suite.Suite) string {
	if s.Name.IsSet() {
		return s.Name.Pos.String()
	}
	return s.File
}

package snapshot

import (
	"fmt"
	"os"
	"strings"
)

// UpdateEnv is the environment variable that, set to "1" or "true", makes
// differing snapshots be rewritten: the switch of go test, which has no
// flag of ours, and an alternative to cleanroom run --update-snapshots.
const UpdateEnv = "CLEANROOM_UPDATE_SNAPSHOTS"

// Status is what File.Check found and did.
type Status string

const (
	Matched  Status = "matched"  // the output equals the snapshot
	Created  Status = "created"  // there was no snapshot; the output is stored
	Updated  Status = "updated"  // the output differed and replaced the snapshot
	Mismatch Status = "mismatch" // the output differs from the snapshot
	Missing  Status = "missing"  // there is no snapshot, and in CI none is written
)

// Mode says what File.Check may write.
type Mode struct {
	// Update rewrites a snapshot that differs instead of failing.
	Update bool
	// CI fails on a missing snapshot instead of creating it: on a CI
	// machine a new snapshot would be written and thrown away unreviewed,
	// and the test would pass without checking anything.
	CI bool
}

// ModeFromEnv returns the Mode of a run: Update when update (the
// --update-snapshots flag) is true or CLEANROOM_UPDATE_SNAPSHOTS is "1" or
// "true"; CI when the CI environment variable is set to anything but "",
// "0" or "false", as CI services set it.
func ModeFromEnv(update bool) Mode {
	u := strings.TrimSpace(os.Getenv(UpdateEnv))
	ci := strings.TrimSpace(os.Getenv("CI"))
	return Mode{
		Update: update || u == "1" || strings.EqualFold(u, "true"),
		CI:     ci != "" && ci != "0" && !strings.EqualFold(ci, "false"),
	}
}

// Result is the outcome of File.Check. Want is the stored snapshot ("" when
// there was none), Got the output checked, Diff the unified diff between
// them for Mismatch and Updated (see Diff).
type Result struct {
	Status Status
	Name   string
	Want   string
	Got    string
	Diff   string
}

// Failed reports whether the check failed: Mismatch or Missing.
func (r Result) Failed() bool { return r.Status == Mismatch || r.Status == Missing }

// String says what happened in one line, or, for a Mismatch, in one line
// followed by the diff; failures say how to make them pass.
func (r Result) String() string {
	switch r.Status {
	case Mismatch:
		return fmt.Sprintf("snapshot %q differs (- snapshot, + got); if the change is intended, rerun with --update-snapshots or %s=1:\n%s", r.Name, UpdateEnv, r.Diff)
	case Missing:
		return fmt.Sprintf("snapshot %q is missing, and with CI set it is not created: run with --update-snapshots or %s=1 where you can review and commit it", r.Name, UpdateEnv)
	default:
		return fmt.Sprintf("snapshot %q %s", r.Name, r.Status)
	}
}

// Check compares got, already normalized, with the entry name. Equal is
// Matched. Different is a Mismatch with a Diff, or, with mode.Update, got
// is stored and the result is Updated. An entry that does not exist is
// stored and Created, except with mode.CI and without mode.Update, where it
// is Missing and nothing is stored. Check changes only the File in memory:
// Save writes it.
func (f *File) Check(name, got string, mode Mode) Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := Result{Name: name, Got: got}
	want, ok := f.entries[name]
	switch {
	case !ok && mode.CI && !mode.Update:
		r.Status = Missing
	case !ok:
		r.Status = Created
		f.entries[name], f.dirty = got, true
	case want == got:
		r.Status, r.Want = Matched, want
	default:
		r.Want, r.Diff = want, Diff(want, got)
		r.Status = Mismatch
		if mode.Update {
			r.Status = Updated
			f.entries[name], f.dirty = got, true
		}
	}
	return r
}

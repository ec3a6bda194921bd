package local

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A sweep also removes session cgroups that no state directory accounts for
// (their session's directory is gone), once they have held no process for
// a while; a session's cgroups that still hold a process, or changed
// lately, stay.
func TestSweepRemovesAbandonedCgroups(t *testing.T) {
	if testing.Short() {
		t.Skip("makes cgroups")
	}
	if os.Geteuid() != 0 {
		t.Skip("cgroups are root's: a rootless backend makes none")
	}
	b, err := New(WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	old, recent := uuid.NewString(), uuid.NewString()
	var dirs []string
	for _, base := range b.cgroups.bases {
		for _, id := range []string{old, recent} {
			d := filepath.Join(base, "cleanroom", id, "box")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rmdirTree(filepath.Dir(d)) })
			if id == old {
				past := time.Now().Add(-2 * abandonedAge)
				if err := os.Chtimes(filepath.Dir(d), past, past); err != nil {
					t.Fatal(err)
				}
				dirs = append(dirs, filepath.Dir(d))
			}
		}
	}
	rep, err := b.Sweep(t.Context(), func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Sessions, old) {
		t.Errorf("SweepReport.Sessions %v: want the abandoned %s", rep.Sessions, old)
	}
	if slices.Contains(rep.Sessions, recent) {
		t.Errorf("SweepReport.Sessions %v: want no %s, which changed just now", rep.Sessions, recent)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s: still there after the sweep", d)
		}
	}
}

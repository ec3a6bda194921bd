package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// enableV2 must enable the controllers at every level down to the
// container's parent: on cgroup v2 a controller's files exist in a cgroup
// only if its parent enabled it. (CI machines run cgroup v1; this checks
// the writes on a plain directory tree.)
func TestEnableV2EnablesEveryAncestor(t *testing.T) {
	base := t.TempDir()
	if err := enableV2(base, "cleanroom/session/box"); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{base, filepath.Join(base, "cleanroom"), filepath.Join(base, "cleanroom", "session")} {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
		if err != nil || !strings.Contains(string(b), "+memory +cpu +pids") {
			t.Errorf("%s/cgroup.subtree_control: got %q, %v; want the controllers enabled", dir, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "cleanroom", "session", "box", "cgroup.subtree_control")); err == nil {
		t.Errorf("the container's own cgroup enabled controllers for children it does not have")
	}
}

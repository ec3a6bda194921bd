package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fileLocks serializes Match calls on the same snapshot file. Parallel
// subtests of one test share a file, and each call reads, changes and
// writes it whole: without the lock two calls would each write their own
// entry over the other's. It is package state because the callers are
// independent tests that share nothing else; it only ever holds one mutex
// per file a test binary touches.
var fileLocks sync.Map // absolute path → *sync.Mutex

func lockFile(path string) func() {
	m, _ := fileLocks.LoadOrStore(path, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Match checks value against the snapshot name of the running test, for Go
// tests that want what suites get from snapshot = "name".
//
// The snapshot lives in __snapshots__/<TopLevelTestName>.snap in the
// working directory — the package directory under go test, unless the test
// changed it — as the entry "<t.Name()>/<name>", so subtests keep theirs
// apart ("TestAPI/create/body"). A string is stored as it is, a []byte as
// its text, anything else as its Canonical JSON; the text is normalized by
// the built-in normalizers and opts (NewNormalizer) first.
//
// A missing snapshot is created, unless the CI environment variable is
// set; then the test fails, since nobody would review what CI wrote. A
// snapshot that differs fails the test with a unified diff, unless
// CLEANROOM_UPDATE_SNAPSHOTS=1 (go test has no flag of ours), which
// rewrites it. Match is safe to call from parallel subtests.
func Match(t testing.TB, name string, value any, opts ...Option) {
	t.Helper()
	var got string
	switch v := value.(type) {
	case string:
		got = v
	case []byte:
		got = string(v)
	default:
		got = Canonical(v)
	}
	got = NewNormalizer(opts...).String(got)

	wd, err := os.Getwd()
	if err != nil {
		t.Errorf("snapshot %q: %v", name, err)
		return
	}
	top, _, _ := strings.Cut(t.Name(), "/")
	path := filepath.Join(wd, DirName, fileBase(top)+Ext)
	entry := t.Name() + "/" + name

	unlock := lockFile(path)
	defer unlock()
	f, err := openGoTest(path)
	if err != nil {
		t.Errorf("snapshot %q: %v", entry, err)
		return
	}
	res := f.Check(entry, got, ModeFromEnv(false))
	if err := f.Save(); err != nil {
		t.Errorf("snapshot %q: %v", entry, err)
		return
	}
	rel := relPath(wd, path)
	switch res.Status {
	case Created:
		t.Logf("snapshot %q created in %s", entry, rel)
	case Updated:
		t.Logf("snapshot %q updated in %s:\n%s", entry, rel, res.Diff)
	case Mismatch:
		t.Errorf("snapshot %q in %s differs (- snapshot, + got); if the change is intended, rerun with %s=1 and review the file:\n%s", entry, rel, UpdateEnv, res.Diff)
	case Missing:
		t.Errorf("snapshot %q is missing from %s, and with CI set it is not created: run the test with %s=1 where you can review the file, and commit it", entry, rel, UpdateEnv)
	}
}

func relPath(wd, path string) string {
	if r, err := filepath.Rel(wd, path); err == nil {
		return r
	}
	return path
}

package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/backendtest"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/internal/owner"
	"github.com/google/uuid"
)

// toolbox makes a directory of busybox applets, the commands the
// conformance suite runs (httpd and nc among them, which hosts rarely
// have). scripts/local-deps.sh installs Debian's busybox-static.
func toolbox(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox not found (%v): run scripts/local-deps.sh, which installs Debian's busybox-static", err)
	}
	dir := t.TempDir()
	// Every user of a sandbox runs these: t.TempDir makes its directories
	// for the test's user alone, and a rootless sandbox's other users are
	// other users on the host too.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(bb, "--install", "-s", dir).CombinedOutput(); err != nil {
		t.Fatalf("busybox --install -s %s: %v\n%s", dir, err, out)
	}
	return dir
}

func newBackend(t *testing.T, dir string, opts ...local.Option) *local.Backend {
	t.Helper()
	if err := local.Available(); err != nil {
		t.Fatalf("the local backend cannot run here: %v", err)
	}
	b, err := local.New(append([]local.Option{local.WithStateDir(dir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newSession opens a session of b with the labels a sweep reads; it is
// closed when t ends.
func newSession(t *testing.T, b *local.Backend) (backend.Session, string) {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	sess, err := b.NewSession(t.Context(), backend.SessionSpec{ID: id, Labels: map[string]string{
		backend.LabelSession: id, backend.LabelOwner: owner.Self().String(),
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	return sess, id
}

// stateDir is short: control sockets live there, and a socket's path has
// a limit of 107 bytes.
func stateDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "crl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	tools := toolbox(t)
	// One state directory for every backend of the suite, so that
	// Resources sees the sessions of all of them.
	dir := stateDir(t)
	probe := newBackend(t, dir)
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend {
			return newBackend(t, dir, local.WithPath(tools))
		},
		NoImages: true,
		NoBuild:  true,
		Resources: func(ctx context.Context, sessionID string) (backendtest.Resources, error) {
			containers, networks := probe.Resources(sessionID)
			return backendtest.Resources{Containers: containers, Networks: networks}, nil
		},
	})
}

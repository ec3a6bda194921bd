package local_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/errs"
)

// An exec past its limit takes everything it started with it, even a
// process that left its tree (setsid and a double fork make it the init's
// child): each exec runs in a cgroup of its own, which the kill empties.
// Beyond the conformance suite, which proves it for a plain tree.
func TestExecTimeoutKillsDetachedProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	ctx := t.Context()
	b := newBackend(t, stateDir(t), local.WithPath(toolbox(t)))
	sess, _ := newSession(t, b)
	c, err := sess.Start(ctx, backend.ContainerSpec{Name: "box", Cmd: []string{"sleep", "86400"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", "(setsid sleep 777 >/dev/null 2>&1 &); sleep 100"}, Timeout: 500 * time.Millisecond})
	var te *errs.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("Exec past its limit: got %v, want *errs.TimeoutError", err)
	}
	ps, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"ps", "-o", "pid,args"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ps.Stdout), "\n") {
		if strings.Contains(line, "sleep 777") || strings.Contains(line, "sleep 100") {
			t.Errorf("after the timeout: %q still runs; ps:\n%s", strings.TrimSpace(line), ps.Stdout)
		}
	}
	// A command that ends normally keeps its background processes, as on
	// an engine.
	if _, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", "sleep 555 >/dev/null 2>&1 &"}}); err != nil {
		t.Fatal(err)
	}
	ps, _ = c.Exec(ctx, backend.ExecSpec{Cmd: []string{"ps", "-o", "args"}})
	if !strings.Contains(string(ps.Stdout), "sleep 555") {
		t.Errorf("a background process of an exec that ended normally: gone, want it running; ps:\n%s", ps.Stdout)
	}
}

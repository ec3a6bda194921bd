package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// TestKillInContainerKillsTree covers the kill path that the conformance
// suite cannot reach when it runs as root: a runner that may not signal the
// engine's processes (engine run by root, runner in the docker group) kills
// from inside the container. It must kill the exec's children too, and be
// done by the time it returns.
func TestKillInContainerKillsTree(t *testing.T) {
	ctx := t.Context()
	b, err := New(ctx)
	if err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	const image = "cleanroom-fixtures/busybox:1"
	if _, err := b.cli.ImageInspect(ctx, image); err != nil {
		t.Skipf("fixture image %s missing: %v", image, err)
	}
	id := uuid.Must(uuid.NewV7()).String()
	sess, err := b.NewSession(ctx, backend.SessionSpec{ID: id, Labels: map[string]string{
		backend.LabelSession: id,
		backend.LabelOwner:   owner.Self().String(),
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sess.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	started, err := sess.Start(ctx, backend.ContainerSpec{Name: "victim", Image: image, Pull: backend.PullNever, Cmd: []string{"sleep", "86400"}})
	if err != nil {
		t.Fatal(err)
	}
	c := started.(*dockerContainer)
	sh := func(script string) backend.ExecResult {
		t.Helper()
		res, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", script}, Timeout: time.Minute})
		if err != nil {
			t.Fatalf("sh -c %q: %v", script, err)
		}
		return res
	}

	created, err := b.cli.ExecCreate(ctx, c.id, client.ExecCreateOptions{Cmd: []string{"sh", "-c", "echo $$ > /tmp/p; sleep 300 & echo $! > /tmp/c; wait"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.cli.ExecStart(ctx, created.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	var pids []string
	for deadline := time.Now().Add(30 * time.Second); len(pids) != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the command did not write its PIDs within 30s; got %q", pids)
		}
		pids = strings.Fields(string(sh("cat /tmp/p /tmp/c 2>/dev/null").Stdout))
	}
	info, err := b.cli.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil || !info.Running || info.PID == 0 {
		t.Fatalf("exec inspect: got %+v, %v; want a running exec with a PID", info, err)
	}

	if err := c.killInContainer(ctx, created.ID, info.PID); err != nil {
		t.Fatalf("killInContainer: got %v, want nil", err)
	}
	if res := sh("kill -0 " + pids[0]); res.ExitCode == 0 {
		t.Errorf("kill -0 %s (the shell) after killInContainer: got exit code 0, want a failure", pids[0])
	}
	// The orphaned sleep is reparented to the container's init, which does
	// not reap: a zombie is dead enough.
	state := sh("cat /proc/" + pids[1] + "/stat 2>/dev/null || echo gone")
	if s := string(state.Stdout); s != "gone\n" && !strings.Contains(s, ") Z ") {
		t.Errorf("child sleep %s after killInContainer: got /proc stat %q, want it gone or a zombie", pids[1], s)
	}
}

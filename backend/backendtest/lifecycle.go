package backendtest

import (
	"slices"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
)

func testLifecycle(t *testing.T, s *suite) {
	t.Run("StopWithZeroGraceKillsAtOnce", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		// The main process ignores SIGTERM: only a kill stops it, so a
		// Stop that waited for a graceful exit would take its full grace.
		c := s.start(t, sess, backend.ContainerSpec{
			Name: "stubborn",
			Cmd:  []string{"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"},
		})
		waitForLogLine(t, c, "ready")
		const limit = 5 * time.Second
		start := time.Now()
		if err := c.Stop(t.Context(), 0); err != nil {
			t.Fatalf("Stop(0): got %v, want nil", err)
		}
		if took := time.Since(start); took > limit {
			t.Errorf("Stop(0) of a process that ignores SIGTERM: took %s, want under %s (zero grace kills at once)", took, limit)
		}
		expectGone(t, c, "Stop(0)")
	})

	t.Run("StopWithGraceLetsProcessExit", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{
			Name: "polite",
			Cmd:  []string{"sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done"},
		})
		// "ready" comes after the trap is set.
		waitForLogLine(t, c, "ready")
		const grace = 20 * time.Second
		start := time.Now()
		if err := c.Stop(t.Context(), grace); err != nil {
			t.Fatalf("Stop(%s): got %v, want nil", grace, err)
		}
		// A process that exits on SIGTERM ends the stop long before the
		// grace runs out; one that is only killed at the end would not
		// print got-term.
		if took := time.Since(start); took > grace/2 {
			t.Errorf("Stop(%s) of a process that exits on SIGTERM: took %s, want well under the grace", grace, took)
		}
		if logs := logsSoFar(t, c); !hasLine(logs, "got-term") {
			t.Errorf("logs after Stop with grace: got %q, want a line %q (SIGTERM first)", logs, "got-term")
		}
		expectGone(t, c, "Stop with grace")
	})

	t.Run("RemoveRemoves", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		sess := s.newSession(t, s.backend(t), selfOwner())
		doomed := s.start(t, sess, backend.ContainerSpec{Name: "doomed"})
		kept := s.start(t, sess, backend.ContainerSpec{Name: "kept"})
		s.expectHeld(ctx, t, sess.ID(), doomed, kept)
		if err := doomed.Remove(ctx); err != nil {
			t.Fatalf("Remove: got %v, want nil", err)
		}
		expectGone(t, doomed, "Remove")
		if r, ok := s.resources(ctx, t, sess.ID()); ok {
			if slices.Contains(r.Containers, doomed.ID()) {
				t.Errorf("containers of the session after Remove: got %v, want no %s", r.Containers, doomed.ID())
			}
			if !slices.Contains(r.Containers, kept.ID()) {
				t.Errorf("containers of the session after removing another: got %v, want %s still there", r.Containers, kept.ID())
			}
		}
		if out := sh(t, kept, "echo alive"); out != "alive\n" {
			t.Errorf("exec in the container not removed: got %q, want %q", out, "alive\n")
		}
		// The session's Close in cleanup must cope with a container that
		// is already gone.
	})
}

package backendtest

import (
	"context"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
)

func testResources(t *testing.T, s *suite) {
	t.Run("StateOfRunningAndStopped", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		// The exit code after a graceful Stop is the process's own, the
		// same on every backend (a killed process's code is not).
		c := s.start(t, sess, backend.ContainerSpec{
			Name: "exiter",
			Cmd:  []string{"sh", "-c", "trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done"},
		})
		waitForLogLine(t, c, "ready")

		st := state(t, c)
		if !st.Running {
			t.Errorf("State of a running container: got %+v, want Running", st)
		}
		if st.StartedAt.IsZero() {
			t.Errorf("State.StartedAt of a running container: got the zero time, want when it started")
		}
		if st.OOMKilled {
			t.Errorf("State.OOMKilled of a container using a few KiB: got true, want false")
		}

		if err := c.Stop(t.Context(), 20*time.Second); err != nil {
			t.Fatalf("Stop: got %v, want nil", err)
		}
		st = state(t, c)
		if st.Running {
			t.Errorf("State after Stop: got %+v, want not Running", st)
		}
		if st.ExitCode != 3 {
			t.Errorf("State.ExitCode after Stop of a process that exits 3 on SIGTERM: got %d, want 3", st.ExitCode)
		}
		if st.OOMKilled {
			t.Errorf("State.OOMKilled after a graceful Stop: got true, want false")
		}
		if st.FinishedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
			t.Errorf("State after Stop: StartedAt %s, FinishedAt %s; want FinishedAt set and not before StartedAt", st.StartedAt, st.FinishedAt)
		}
	})

	t.Run("StatsOfRunning", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{Name: "sampled"})

		first := stats(t, c)
		if first.At.IsZero() {
			t.Errorf("Stats.At: got the zero time, want when the sample was taken")
		}
		if first.Memory <= 0 {
			t.Errorf("Stats.Memory of a running container: got %d, want > 0", first.Memory)
		}
		if first.Pids < 1 {
			t.Errorf("Stats.Pids of a running container: got %d, want >= 1", first.Pids)
		}

		// Counters are totals since the container started: a later
		// sample never shows less.
		sh(t, c, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
		second := stats(t, c)
		if second.At.Before(first.At) {
			t.Errorf("Stats.At of a later sample: got %s, want not before %s", second.At, first.At)
		}
		if second.CPU < first.CPU {
			t.Errorf("Stats.CPU of a later sample: got %s, want not less than %s (a total since start)", second.CPU, first.CPU)
		}
	})
}

// state calls State, bounded by callLimit.
func state(t *testing.T, c backend.Container) backend.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callLimit)
	defer cancel()
	st, err := c.State(ctx)
	if err != nil {
		t.Fatalf("State(%s): got error %v, want a state", c.Name(), err)
	}
	return st
}

// stats calls Stats, bounded by callLimit.
func stats(t *testing.T, c backend.Container) backend.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callLimit)
	defer cancel()
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats(%s): got error %v, want a sample", c.Name(), err)
	}
	return st
}

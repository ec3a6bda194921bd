package backendtest

import (
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

func testSweep(t *testing.T, s *suite) {
	t.Run("RemovesDeadOwnersOnly", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		b := s.backend(t)
		dead, live := deadOwner(t), selfOwner()
		alive := sweepJudge(t, dead, live)
		if alive(dead) {
			t.Fatalf("owner of an exited process %q: judged alive, want dead", dead)
		}
		if !alive(live) {
			t.Fatalf("owner of this process %q: judged dead, want alive", live)
		}

		deadSess := s.newSession(t, b, dead)
		liveSess := s.newSession(t, b, live)
		victim := s.start(t, deadSess, backend.ContainerSpec{Name: "victim"})
		survivor := s.start(t, liveSess, backend.ContainerSpec{Name: "survivor"})
		deadRes := s.expectHeld(ctx, t, deadSess.ID(), victim)
		liveRes := s.expectHeld(ctx, t, liveSess.ID(), survivor)

		rep, err := b.Sweep(ctx, alive)
		if err != nil {
			t.Fatalf("Sweep: got error %v, want nil", err)
		}
		if !slices.Contains(rep.Sessions, deadSess.ID()) {
			t.Errorf("SweepReport.Sessions: got %v, want it to include the dead session %s", rep.Sessions, deadSess.ID())
		}
		if slices.Contains(rep.Sessions, liveSess.ID()) {
			t.Errorf("SweepReport.Sessions: got %v, want no live session %s", rep.Sessions, liveSess.ID())
		}
		if !slices.Contains(rep.Containers, victim.ID()) {
			t.Errorf("SweepReport.Containers: got %v, want it to include %s of the dead session", rep.Containers, victim.ID())
		}
		if slices.Contains(rep.Containers, survivor.ID()) {
			t.Errorf("SweepReport.Containers: got %v, want no %s of the live session", rep.Containers, survivor.ID())
		}
		for _, n := range deadRes.Networks {
			if !slices.Contains(rep.Networks, n) {
				t.Errorf("SweepReport.Networks: got %v, want it to include %s of the dead session", rep.Networks, n)
			}
		}
		for _, n := range liveRes.Networks {
			if slices.Contains(rep.Networks, n) {
				t.Errorf("SweepReport.Networks: got %v, want no %s of the live session", rep.Networks, n)
			}
		}

		expectGone(t, victim, "Sweep of its dead owner")
		s.expectEmpty(ctx, t, deadSess.ID(), "after Sweep of its dead owner")
		if out := sh(t, survivor, "echo alive"); out != "alive\n" {
			t.Errorf("exec in the live session after Sweep: got %q, want %q", out, "alive\n")
		}
		if r, ok := s.resources(ctx, t, liveSess.ID()); ok && !slices.Contains(r.Containers, survivor.ID()) {
			t.Errorf("containers of the live session after Sweep: got %v, want %s untouched", r.Containers, survivor.ID())
		}

		again, err := b.Sweep(ctx, alive)
		if err != nil {
			t.Fatalf("second Sweep: got error %v, want nil", err)
		}
		if len(again.Sessions)+len(again.Containers)+len(again.Networks) > 0 {
			t.Errorf("second Sweep: got %+v, want nothing left to remove", again)
		}
		// The dead session's Close in cleanup must cope with resources a
		// sweep already removed.
	})
}

// testHost stands for this machine in the owner label of the test's dead
// session. Other cleanroom processes sharing the engine sweep with
// owner.Alive too (every new environment does), and a session whose owner is
// dead on this host would be theirs to remove, possibly before this test's
// Sweep runs. owner.Alive leaves owners on other hosts alone, so under a
// host name of its own the session waits for this test; the test's judge
// reads the name as this machine's and asks owner.Alive.
const testHost = "cleanroom-backendtest.invalid"

// deadOwner is the owner label of a process of this machine that has
// exited, under testHost.
func deadOwner(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatalf("running a child process to get a dead PID: %v", err)
	}
	// Start time 1 cannot match a real process, even if the PID is reused.
	return owner.ID{Host: testHost, PID: cmd.Process.Pid, Start: 1}.String()
}

// sweepJudge is the alive function the test sweeps with: owner.Alive for
// the test's own two owners, everything else alive, because the engine may
// be shared and other processes' sessions are not this test's to remove.
func sweepJudge(t *testing.T, dead, live string) func(string) bool {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if !owner.Alive(dead) {
		t.Fatalf("owner.Alive(%q): got false, want true (owners on other hosts are left alone; the test relies on it)", dead)
	}
	return func(label string) bool {
		switch label {
		case live:
			return owner.Alive(label)
		case dead:
			id, err := owner.Parse(label)
			if err != nil {
				t.Errorf("owner.Parse(%q): %v", label, err)
				return true
			}
			id.Host = host
			return owner.Alive(id.String())
		}
		return true
	}
}

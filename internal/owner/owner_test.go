package owner

import (
	"os"
	"os/exec"
	"testing"
)

func TestSelfIsAliveAndRoundTrips(t *testing.T) {
	self := Self()
	if self.Start == 0 {
		t.Fatalf("start time of own process not read: %+v", self)
	}
	got, err := Parse(self.String())
	if err != nil {
		t.Fatal(err)
	}
	if got != self {
		t.Fatalf("round trip: got %+v, want %+v", got, self)
	}
	if !Alive(self.String()) {
		t.Fatalf("own process %s reported dead", self)
	}
}

func TestDeadProcessAndReusedPID(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := ID{Host: Self().Host, PID: cmd.Process.Pid, Start: 1}
	if Alive(dead.String()) {
		t.Fatalf("exited process %s reported alive", dead)
	}
	// Our own PID with a different start time is a reused PID: dead owner.
	reused := Self()
	reused.Start++
	if Alive(reused.String()) {
		t.Fatalf("reused pid %s reported alive", reused)
	}
}

func TestOtherHostAndGarbageAreLeftAlone(t *testing.T) {
	for _, label := range []string{
		"some-other-host/1/1",
		"garbage",
		"host/notapid/1",
	} {
		if !Alive(label) {
			t.Errorf("Alive(%q) = false; a sweep would remove what it cannot judge", label)
		}
	}
	if _, err := Parse("host-with/slash/12/34"); err != nil {
		t.Errorf("host names with slashes must parse: %v", err)
	}
	_ = os.Getpid()
}

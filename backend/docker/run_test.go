package docker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// TestRunOneShot covers Session.Run, the one-shot container behind exec
// steps that name an image instead of a service.
func TestRunOneShot(t *testing.T) {
	ctx := t.Context()
	b := connect(t)
	t.Cleanup(func() { _ = b.Close() })
	id := uuid.Must(uuid.NewV7()).String()
	sess, err := b.NewSession(ctx, backend.SessionSpec{ID: id, Labels: map[string]string{
		backend.LabelSession: id, backend.LabelOwner: owner.Self().String(), backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sess.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	res, err := sess.Run(ctx, backend.ContainerSpec{Name: "once", Image: fixtureImage, Pull: backend.PullNever,
		Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 7"}}, time.Minute)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.ExitCode != 7 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Errorf("Run: exit %d, stdout %q, stderr %q; want 7, \"out\\n\", \"err\\n\"", res.ExitCode, res.Stdout, res.Stderr)
	}

	begin := time.Now()
	res, err = sess.Run(ctx, backend.ContainerSpec{Name: "slow", Image: fixtureImage, Pull: backend.PullNever,
		Cmd: []string{"sh", "-c", "echo started; sleep 300"}}, 500*time.Millisecond)
	var te *errs.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("Run past its timeout: got %v, want *errs.TimeoutError", err)
	}
	if took := time.Since(begin); took > 30*time.Second {
		t.Errorf("Run returned %s after a 500ms timeout", took)
	}
	if string(res.Stdout) != "started\n" {
		t.Errorf("partial output of the timed-out run: %q, want \"started\\n\"", res.Stdout)
	}
	// Both one-shot containers are removed once Run returns.
	r, err := held(ctx, b.Client(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Containers) != 0 {
		t.Errorf("one-shot containers left after Run: %v", r.Containers)
	}
}

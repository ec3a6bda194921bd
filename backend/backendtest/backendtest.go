// Package backendtest is the conformance suite that every cleanroom backend
// must pass: the layers above the backend never branch on which one runs, so
// each backend has to behave the same way on the cases listed here.
//
// A backend's own test calls Run with a Harness:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			New:   func(t *testing.T) backend.Backend { return connect(t) },
//			Image: "cleanroom-fixtures/busybox:1",
//			Pull:  backend.PullNever,
//		})
//	}
//
// The suite starts real containers with the harness's image and talks to them
// from the test process (published ports), so it needs a working engine and
// loopback networking, nothing else.
package backendtest

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// Harness is what the suite needs from a backend's test.
type Harness struct {
	// New returns a backend ready for use. The suite calls it once per test
	// and closes what it returns when the test ends.
	New func(t *testing.T) backend.Backend

	// Image is a busybox-like image run by every test. It must provide
	// sh, cat, echo, printf, id, pwd, stat, ps, kill, touch, head, nc,
	// httpd and sleep (with fractional seconds), and users 0 (root) and
	// 65534 (nobody) in /etc/passwd.
	Image string

	// Pull is the pull policy used for Image. PullNever keeps the suite off
	// the network.
	Pull backend.PullPolicy

	// Resources, when set, lists what the backend still holds for a
	// session. The suite uses it to prove that Close, Remove and Sweep
	// leave nothing behind; without it those checks go through the
	// contract alone (a removed container no longer runs commands).
	Resources func(ctx context.Context, sessionID string) (Resources, error)

	// NoBuild says the backend cannot build images from a Dockerfile. The
	// suite then checks that Session.Build says so with a
	// *errs.BackendError; otherwise it builds small images FROM Image
	// (which must therefore be buildable upon, with sh for RUN).
	NoBuild bool

	// NoImages says the backend runs programs of its own machine instead
	// of images (the local backend): Image is empty, and the suite checks
	// that a spec with an image is refused with a *errs.BackendError that
	// says why. The harness must then make the commands listed under Image
	// available on the PATH of the container's processes.
	NoImages bool

	// Created, when set, is told the ID of every session the suite creates,
	// before the session exists, so that the caller can check with its own
	// tools that nothing is left at the end. Tests run in parallel: it must
	// be safe for concurrent use.
	Created func(sessionID string)
}

// Resources is what a backend holds for one session.
type Resources struct {
	Containers []string // as Container.ID reports them
	Networks   []string // as SweepReport.Networks reports them
}

// Limits the suite applies. They are generous: they exist so that a broken
// backend fails a test instead of hanging the whole run.
const (
	// waitFor bounds every poll for a condition (a server listening, a
	// log line appearing).
	waitFor = 30 * time.Second
	// callLimit bounds one backend call that may hang if the backend is
	// broken (an Exec that never returns, a log stream that never ends).
	callLimit = 60 * time.Second
	// cleanupLimit bounds Close in t.Cleanup, whose test context is gone.
	cleanupLimit = 60 * time.Second
)

// idle is a main process that runs until it is killed. Tests that look for
// a "sleep 300" in ps rely on it being a different command line.
var idle = []string{"sleep", "86400"}

// Run runs the conformance suite against the backend the harness provides.
// The tests run in parallel, each in its own sessions.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || (h.Image == "" && !h.NoImages) {
		t.Fatal("backendtest: the Harness needs New and Image (or NoImages)")
	}
	s := &suite{h: h}
	groups := []struct {
		name string
		run  func(*testing.T, *suite)
	}{
		{"Session", testSession},
		{"Start", testStart},
		{"Exec", testExec},
		{"Logs", testLogs},
		{"Copy", testCopy},
		{"Lifecycle", testLifecycle},
		{"Sweep", testSweep},
		{"Build", testBuild},
		{"Resources", testResources},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, s)
		})
	}
}

type suite struct {
	h Harness
}

// backend returns a fresh backend for one test. Its Close is registered
// first, so it runs after the Close of every session the test creates.
func (s *suite) backend(t *testing.T) backend.Backend {
	t.Helper()
	b := s.h.New(t)
	if b == nil {
		t.Fatal("Harness.New returned a nil backend")
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Backend.Close: got %v, want nil", err)
		}
	})
	return b
}

// newSession creates a session owned by ownerLabel. When the test ends, the
// session is closed and, if the harness can tell, proven empty.
func (s *suite) newSession(t *testing.T, b backend.Backend, ownerLabel string) backend.Session {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	labels := map[string]string{
		backend.LabelSession: id,
		backend.LabelOwner:   ownerLabel,
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}
	if s.h.Created != nil {
		s.h.Created(id)
	}
	sess, err := b.NewSession(t.Context(), backend.SessionSpec{ID: id, Labels: labels})
	if err != nil {
		t.Fatalf("NewSession(%s): got error %v, want a session", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupLimit)
		defer cancel()
		if err := sess.Close(ctx); err != nil {
			t.Errorf("Session.Close of %s in cleanup: got %v, want nil", id, err)
		}
		s.expectEmpty(ctx, t, id, "after Close")
	})
	if got := sess.ID(); got != id {
		t.Errorf("Session.ID(): got %q, want %q", got, id)
	}
	return sess
}

// selfOwner is the owner label of a session this process runs.
func selfOwner() string { return owner.Self().String() }

// resources asks the harness what a session holds; ok is false when the
// harness cannot tell.
func (s *suite) resources(ctx context.Context, t *testing.T, sessionID string) (r Resources, ok bool) {
	t.Helper()
	if s.h.Resources == nil {
		return Resources{}, false
	}
	r, err := s.h.Resources(ctx, sessionID)
	if err != nil {
		t.Fatalf("Harness.Resources(%s): %v", sessionID, err)
	}
	return r, true
}

// expectEmpty fails the test when the backend still holds something of the
// session.
func (s *suite) expectEmpty(ctx context.Context, t *testing.T, sessionID, when string) {
	t.Helper()
	r, ok := s.resources(ctx, t, sessionID)
	if ok && (len(r.Containers) > 0 || len(r.Networks) > 0) {
		t.Errorf("session %s %s: got containers %v and networks %v left, want none", sessionID, when, r.Containers, r.Networks)
	}
}

// expectHeld fails the test when the harness cannot see a container the
// session is known to hold: a Resources that sees nothing would make every
// leak check pass.
func (s *suite) expectHeld(ctx context.Context, t *testing.T, sessionID string, cs ...backend.Container) Resources {
	t.Helper()
	r, ok := s.resources(ctx, t, sessionID)
	if !ok {
		return r
	}
	for _, c := range cs {
		if !slices.Contains(r.Containers, c.ID()) {
			t.Fatalf("Harness.Resources(%s): containers %v do not include running container %s (%s); the leak checks would be blind", sessionID, r.Containers, c.ID(), c.Name())
		}
	}
	if len(r.Networks) == 0 {
		t.Fatalf("Harness.Resources(%s): no network listed for a session with running containers; the leak checks would be blind", sessionID)
	}
	return r
}

// start starts a container, filling in the harness's image and pull policy.
func (s *suite) start(t *testing.T, sess backend.Session, spec backend.ContainerSpec) backend.Container {
	t.Helper()
	if spec.Image == "" {
		spec.Image = s.h.Image
	}
	if spec.Pull == "" {
		spec.Pull = s.h.Pull
	}
	if spec.Cmd == nil && spec.Entrypoint == nil {
		spec.Cmd = idle
	}
	ctx, cancel := context.WithTimeout(t.Context(), callLimit)
	defer cancel()
	c, err := sess.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start(%s, image %s, cmd %q): got error %v, want a running container", spec.Name, spec.Image, spec.Cmd, err)
	}
	if got := c.Name(); got != spec.Name {
		t.Errorf("Container.Name(): got %q, want %q", got, spec.Name)
	}
	if c.ID() == "" {
		t.Errorf("Container.ID() of %s: got empty, want an ID", spec.Name)
	}
	return c
}

// execResult is one Exec call's outcome.
type execResult struct {
	res     backend.ExecResult
	err     error
	elapsed time.Duration
}

// execWithin runs Exec and fails the test when it does not return within
// limit, so that a backend that never returns fails instead of hanging.
func execWithin(ctx context.Context, t *testing.T, c backend.Container, spec backend.ExecSpec, limit time.Duration) execResult {
	t.Helper()
	done := make(chan execResult, 1)
	start := time.Now()
	go func() {
		res, err := c.Exec(ctx, spec)
		done <- execResult{res: res, err: err, elapsed: time.Since(start)}
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("Exec(%q) in %s: still running after %s, want it to return", spec.Cmd, c.Name(), limit)
		return execResult{}
	}
}

// run runs a command that must run (its exit code is the caller's concern).
func run(t *testing.T, c backend.Container, spec backend.ExecSpec) backend.ExecResult {
	t.Helper()
	r := execWithin(t.Context(), t, c, spec, callLimit)
	if r.err != nil {
		t.Fatalf("Exec(%q) in %s: got error %v, want a result", spec.Cmd, c.Name(), r.err)
	}
	return r.res
}

// sh runs a shell script that must succeed and returns its stdout.
func sh(t *testing.T, c backend.Container, script string) string {
	t.Helper()
	res := run(t, c, backend.ExecSpec{Cmd: []string{"sh", "-c", script}})
	if res.ExitCode != 0 {
		t.Fatalf("sh -c %q in %s: got exit code %d (stdout %q, stderr %q), want 0", script, c.Name(), res.ExitCode, res.Stdout, res.Stderr)
	}
	return string(res.Stdout)
}

// expectGone fails the test when a container still runs commands: what the
// contract lets a test see of a stopped or removed container.
func expectGone(t *testing.T, c backend.Container, after string) {
	t.Helper()
	r := execWithin(t.Context(), t, c, backend.ExecSpec{Cmd: []string{"true"}}, callLimit)
	if r.err == nil {
		t.Errorf("Exec in %s after %s: got exit code %d and no error, want an error (the container should not run)", c.Name(), after, r.res.ExitCode)
	}
}

// eventually polls cond until it holds, with a growing interval, and fails
// the test with cond's last description when limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (ok bool, got string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	delay := 20 * time.Millisecond
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last got: %s", limit, what, got)
		}
		select {
		case <-time.After(delay):
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s; last got: %s", what, got)
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// readAllWithin reads r to its end and fails the test if that takes longer
// than limit.
func readAllWithin(t *testing.T, r io.Reader, limit time.Duration, what string) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-time.After(limit):
		t.Fatalf("%s: the stream did not end within %s, want it to end", what, limit)
		return nil, nil
	}
}

// hasLine reports whether text has a line equal to want.
func hasLine(text, want string) bool {
	return slices.Contains(strings.Split(text, "\n"), want)
}

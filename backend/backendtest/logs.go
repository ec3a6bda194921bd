package backendtest

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
)

func testLogs(t *testing.T, s *suite) {
	t.Run("SoFarReturnsBothStreamsAndEnds", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{
			Name: "talker",
			Cmd:  []string{"sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 86400"},
		})
		// logsSoFar fails the test if the stream does not end while the
		// container still runs: without follow, Logs is a snapshot.
		waitForLogLine(t, c, "to-stdout")
		waitForLogLine(t, c, "to-stderr")
	})

	t.Run("FollowStreamsLaterLinesUntilCancelled", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		// The container prints "later" only when the test says so, so the
		// line cannot be in the logs before the follower is attached.
		c := s.start(t, sess, backend.ContainerSpec{
			Name: "talker",
			Cmd:  []string{"sh", "-c", "echo first; until [ -e /tmp/go ]; do sleep 0.05; done; echo later; exec sleep 86400"},
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		rc, err := c.Logs(ctx, true)
		if err != nil {
			t.Fatalf("Logs(follow=true): got error %v, want a stream", err)
		}
		defer rc.Close()
		lines := scanLines(rc)

		expectLine(t, lines, "first")
		sh(t, c, "touch /tmp/go")
		expectLine(t, lines, "later")
		cancel()
		expectEnd(t, lines, "after its context was cancelled")
	})

	t.Run("FollowEndsWhenContainerStops", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{Name: "talker", Cmd: []string{"sh", "-c", "echo up; exec sleep 86400"}})
		rc, err := c.Logs(t.Context(), true)
		if err != nil {
			t.Fatalf("Logs(follow=true): got error %v, want a stream", err)
		}
		defer rc.Close()
		lines := scanLines(rc)
		expectLine(t, lines, "up")
		if err := c.Stop(t.Context(), 0); err != nil {
			t.Fatalf("Stop(0): got %v, want nil", err)
		}
		expectEnd(t, lines, "after the container stopped")
	})
}

// scanLines delivers r's lines on a channel that is closed when r ends.
func scanLines(r io.Reader) <-chan string {
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// expectLine reads lines until one equals want.
func expectLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	var seen []string
	timeout := time.After(waitFor)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("followed logs ended before line %q; got lines %q", want, seen)
			}
			if line == want {
				return
			}
			seen = append(seen, line)
		case <-timeout:
			t.Fatalf("followed logs: no line %q within %s; got lines %q", want, waitFor, seen)
		}
	}
}

// expectEnd reads lines until the stream ends.
func expectEnd(t *testing.T, lines <-chan string, when string) {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("followed logs %s: still open after %s, want the stream to end", when, waitFor)
		}
	}
}

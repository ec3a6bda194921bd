package backendtest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

func testSession(t *testing.T, s *suite) {
	t.Run("CloseIsIdempotentAndConcurrent", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		b := s.backend(t)
		sess := s.newSession(t, b, selfOwner())
		cs := []backend.Container{
			s.start(t, sess, backend.ContainerSpec{Name: "one"}),
			s.start(t, sess, backend.ContainerSpec{Name: "two"}),
		}
		s.expectHeld(ctx, t, sess.ID(), cs...)

		const callers = 8
		results := make([]error, callers)
		release := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-release // all callers race into Close together
				results[i] = sess.Close(ctx)
			})
		}
		close(release)
		wg.Wait()
		for i, err := range results {
			if err != nil {
				t.Errorf("concurrent Close #%d of %d: got %v, want nil", i, callers, err)
			}
		}
		if err := sess.Close(ctx); err != nil {
			t.Errorf("Close after Close: got %v, want nil (Close is idempotent)", err)
		}
		for _, c := range cs {
			expectGone(t, c, "session Close")
		}
		s.expectEmpty(ctx, t, sess.ID(), "after concurrent Close")
	})

	t.Run("StartAfterCloseFails", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		b := s.backend(t)
		sess := s.newSession(t, b, selfOwner())
		if err := sess.Close(ctx); err != nil {
			t.Fatalf("Close: got %v, want nil", err)
		}
		c, err := sess.Start(ctx, backend.ContainerSpec{Name: "late", Image: s.h.Image, Pull: s.h.Pull, Cmd: idle})
		if err == nil {
			_ = c.Remove(ctx)
			t.Fatalf("Start after Close: got container %s and no error, want *errs.BackendError", c.ID())
		}
		var be *errs.BackendError
		if !errors.As(err, &be) {
			t.Errorf("Start after Close: got %T (%v), want *errs.BackendError", err, err)
		}
		s.expectEmpty(ctx, t, sess.ID(), "after Start on a closed session")
	})

	t.Run("ConcurrentStarts", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		b := s.backend(t)
		sess := s.newSession(t, b, selfOwner())
		names := []string{"a", "b", "c", "d"}
		cs := make([]backend.Container, len(names))
		startErrs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() {
				cs[i], startErrs[i] = sess.Start(ctx, backend.ContainerSpec{Name: name, Image: s.h.Image, Pull: s.h.Pull, Cmd: idle})
			})
		}
		wg.Wait()
		ids := map[string]string{}
		for i, name := range names {
			if startErrs[i] != nil {
				t.Errorf("concurrent Start(%s): got error %v, want a container", name, startErrs[i])
				continue
			}
			c := cs[i]
			if c.Name() != name {
				t.Errorf("concurrent Start(%s): Name() got %q, want %q", name, c.Name(), name)
			}
			if other, dup := ids[c.ID()]; dup {
				t.Errorf("concurrent Start: %s and %s got the same ID %s, want distinct IDs", other, name, c.ID())
			}
			ids[c.ID()] = name
			if out := sh(t, c, "echo ok"); out != "ok\n" {
				t.Errorf("exec in %s: got stdout %q, want %q", name, out, "ok\n")
			}
		}
	})

	t.Run("NamesResolveWithinSessionOnly", func(t *testing.T) {
		t.Parallel()
		b := s.backend(t)
		home := s.newSession(t, b, selfOwner())
		away := s.newSession(t, b, selfOwner())
		body := "served to " + home.ID() + "\n"
		s.start(t, home, httpdSpec("web", body))
		neighbour := s.start(t, home, backend.ContainerSpec{Name: "client"})
		stranger := s.start(t, away, backend.ContainerSpec{Name: "client"})

		// busybox-static's wget is unreliable in a scratch image; nc
		// speaks enough HTTP/1.0.
		get := func(wait int) backend.ExecSpec {
			return backend.ExecSpec{Cmd: []string{"sh", "-c", fmt.Sprintf(`printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w %d web 8080`, wait)}}
		}
		eventually(t, waitFor, "a container to fetch web:8080 by service name in its own session", func() (bool, string) {
			res := run(t, neighbour, get(5))
			return res.ExitCode == 0 && strings.Contains(string(res.Stdout), body),
				fmt.Sprintf("exit code %d, stdout %q, stderr %q (want exit 0 and a body of %q)", res.ExitCode, res.Stdout, res.Stderr, body)
		})
		// Only now, with web known to answer, does a failure from the other
		// session mean isolation rather than a slow server. A name the
		// session does not know may keep the resolver busy until its own
		// timeout; nc's shorter one bounds the wait.
		res := run(t, stranger, get(2))
		if res.ExitCode == 0 || strings.Contains(string(res.Stdout), body) {
			t.Errorf("container of another session fetching web:8080: got exit code %d, stdout %q; want a failure (sessions must not resolve each other's names)", res.ExitCode, res.Stdout)
		}
	})
}

// httpdSpec is a busybox httpd serving body as /index.html on port 8080.
func httpdSpec(name, body string) backend.ContainerSpec {
	return backend.ContainerSpec{
		Name:  name,
		Cmd:   []string{"httpd", "-f", "-p", "8080", "-h", "/www"},
		Ports: []int{8080},
		Files: []backend.File{{Path: "/www/index.html", Content: []byte(body)}},
	}
}

package backendtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

func testBuild(t *testing.T, s *suite) {
	if s.h.NoBuild {
		t.Run("RejectedClearly", func(t *testing.T) {
			t.Parallel()
			sess := s.newSession(t, s.backend(t), selfOwner())
			dir := buildDir(t, "FROM "+s.h.Image+"\n", nil)
			_, err := sess.Build(t.Context(), backend.BuildSpec{Name: "app", Context: dir})
			var be *errs.BackendError
			if !errors.As(err, &be) {
				t.Fatalf("Build on a backend that cannot build: got %v (%T), want a *errs.BackendError saying so", err, err)
			}
		})
		return
	}

	t.Run("OnceAndStartable", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		sess := s.newSession(t, s.backend(t), selfOwner())
		dir := buildDir(t, "FROM "+s.h.Image+"\nARG MSG=default\nCOPY msg.txt /msg.txt\nRUN echo \"$MSG\" >> /msg.txt\n",
			map[string]string{"msg.txt": "from the context\n"})
		var mu sync.Mutex
		var logged []string
		spec := backend.BuildSpec{Name: "app", Context: dir, Args: map[string]string{"MSG": "from an arg"},
			Log: func(line string) { mu.Lock(); logged = append(logged, line); mu.Unlock() }}

		bctx, cancel := context.WithTimeout(ctx, callLimit)
		defer cancel()
		image, err := sess.Build(bctx, spec)
		if err != nil {
			t.Fatalf("Build: got error %v, want an image", err)
		}
		mu.Lock()
		first := len(logged)
		mu.Unlock()
		if first == 0 {
			t.Errorf("Build: Log got no line, want the build output")
		}
		again, err := sess.Build(bctx, spec)
		if err != nil || again != image {
			t.Errorf("Build of the same spec again: got %q, %v; want %q, nil", again, err, image)
		}
		mu.Lock()
		if len(logged) != first {
			t.Errorf("Build of the same spec again: Log got %d more lines, want none (no second build)", len(logged)-first)
		}
		mu.Unlock()

		c := s.start(t, sess, backend.ContainerSpec{Name: "app", Image: image})
		if got, want := sh(t, c, "cat /msg.txt"), "from the context\nfrom an arg\n"; got != want {
			t.Errorf("/msg.txt in the built image: got %q, want %q", got, want)
		}
	})

	t.Run("FailureCarriesOutput", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		marker := "marker-" + uuid.NewString()
		dir := buildDir(t, "FROM "+s.h.Image+"\nRUN echo "+marker+" && false\n", nil)
		ctx, cancel := context.WithTimeout(t.Context(), callLimit)
		defer cancel()
		_, err := sess.Build(ctx, backend.BuildSpec{Name: "broken", Context: dir})
		var be *errs.BackendError
		if !errors.As(err, &be) {
			t.Fatalf("Build of a failing Dockerfile: got %v (%T), want a *errs.BackendError", err, err)
		}
		if !strings.Contains(err.Error(), marker) {
			t.Errorf("error of a failed build: want the build's output (%s) in it; got:\n%v", marker, err)
		}
	})

	t.Run("CloseRemovesImage", func(t *testing.T) {
		t.Parallel()
		b := s.backend(t)
		sess := s.newSession(t, b, selfOwner())
		dir := buildDir(t, "FROM "+s.h.Image+"\nRUN echo "+uuid.NewString()+" > /id\n", nil)
		ctx, cancel := context.WithTimeout(t.Context(), callLimit)
		defer cancel()
		image, err := sess.Build(ctx, backend.BuildSpec{Name: "app", Context: dir})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if err := sess.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		other := s.newSession(t, b, selfOwner())
		spec := backend.ContainerSpec{Name: "app", Image: image, Pull: backend.PullNever, Cmd: idle}
		if c, err := other.Start(ctx, spec); err == nil {
			_ = c.Remove(ctx)
			t.Errorf("Start of %s after its session closed: got a container, want an error (the image removed)", image)
		}
	})
}

// buildDir writes a build context: the Dockerfile and files.
func buildDir(t *testing.T, dockerfile string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", dockerfile)
	for name, content := range files {
		write(name, content)
	}
	return dir
}

package pick

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/errs"
)

func TestCheck(t *testing.T) {
	for _, name := range []string{"", Auto, Docker, Local} {
		if err := Check(name); err != nil {
			t.Errorf("Check(%q): %v", name, err)
		}
	}
	for _, name := range []string{"bogus", "Docker", "LOCAL", " local", "local ", "podman", "docker,local"} {
		err := Check(name)
		want := fmt.Sprintf("unknown backend %q (want one of docker, local, auto)", name)
		if err == nil || err.Error() != want {
			t.Errorf("Check(%q): want %q, got %v", name, want, err)
		}
	}
}

func TestBackendUnknownName(t *testing.T) {
	b, why, err := Backend(context.Background(), "bogus")
	if b != nil || why != "" {
		t.Errorf("want no backend and no reason, got %v, %q", b, why)
	}
	var ve *errs.ValidationError
	if !errors.As(err, &ve) || ve.Field != "backend" || !strings.Contains(ve.Message, `unknown backend "bogus"`) {
		t.Fatalf("want a validation error of the backend field, got %T: %v", err, err)
	}
}

// noEngineHere points the Docker client at a socket nobody listens on.
func noEngineHere(t *testing.T) string {
	t.Helper()
	host := "unix://" + filepath.Join(t.TempDir(), "no-engine.sock")
	t.Setenv("DOCKER_HOST", host)
	return host
}

func TestBackendAutoWithoutEngine(t *testing.T) {
	if err := local.Available(); err != nil {
		t.Skipf("the local backend cannot run here: %v", err)
	}
	host := noEngineHere(t)
	for _, name := range []string{"", Auto} {
		b, why, err := Backend(context.Background(), name)
		if err != nil {
			t.Fatalf("Backend(%q): %v", name, err)
		}
		if b.Name() != local.Name {
			t.Errorf("Backend(%q): want the local backend, got %s", name, b.Name())
		}
		if want := "local (no Docker engine answered at " + host + ")"; why != want {
			t.Errorf("Backend(%q): reason\nwant %q\ngot  %q", name, want, why)
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestBackendAskedFor(t *testing.T) {
	if err := local.Available(); err != nil {
		t.Skipf("the local backend cannot run here: %v", err)
	}
	host := noEngineHere(t)
	b, why, err := Backend(context.Background(), Local)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != local.Name || why != "local (asked for)" {
		t.Errorf("--backend local: got %s, %q", b.Name(), why)
	}
	_ = b.Close()

	// Docker asked for and no engine: an error that names where it looked,
	// not the local backend instead.
	b, _, err = Backend(context.Background(), Docker)
	if err == nil {
		b.Close()
		t.Fatal("--backend docker without an engine: want an error")
	}
	var be *errs.BackendError
	if !errors.As(err, &be) || be.Target != host {
		t.Errorf("want a backend error naming %s, got %T: %v", host, err, err)
	}
}

// When the run is cancelled while auto probes, the answer is the
// cancellation, not a fall back to local.
func TestBackendAutoCancelled(t *testing.T) {
	noEngineHere(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b, _, err := Backend(ctx, Auto)
	if b != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled and no backend, got %v, %v", b, err)
	}
}

// With an engine that answers, auto picks it.
func TestBackendAutoWithEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Docker engine")
	}
	probe, err := docker.New(context.Background())
	if err != nil {
		t.Skipf("no Docker engine here: %v", err)
	}
	probe.Close()
	b, why, err := Backend(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Name() != docker.Name || why != "docker (a Docker engine answered)" {
		t.Errorf("auto with an engine: got %s, %q", b.Name(), why)
	}
}

func TestNoEngine(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		err  error
		want string
	}{
		{&errs.BackendError{Backend: "docker", Op: "connect", Target: "unix:///run/docker.sock", Err: errors.New("refused")},
			"no Docker engine answered at unix:///run/docker.sock"},
		{fmt.Errorf("wrapped: %w", &errs.BackendError{Backend: "docker", Op: "connect", Target: "tcp://10.0.0.1:2375", Err: errors.New("timeout")}),
			"no Docker engine answered at tcp://10.0.0.1:2375"},
		// Without a target: the error's first line, briefly.
		{errors.New("bad DOCKER_HOST\nsecond line"), "no Docker engine answered: bad DOCKER_HOST"},
		{errors.New(long), "no Docker engine answered: " + long[:160] + "…"},
	}
	for _, tt := range tests {
		if got := noEngine(tt.err); got != tt.want {
			t.Errorf("noEngine(%v):\nwant %q\ngot  %q", tt.err, tt.want, got)
		}
	}
}

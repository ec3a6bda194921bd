package cleanroom_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/generic"
)

// recordingBackend is a backend that starts nothing and records every Start
// it is asked for. It serves pure-logic tests of the Env (validation before
// anything starts); everything that runs containers is tested on the engine.
type recordingBackend struct {
	// The embedded interfaces are nil: a method the Env is not expected to
	// call panics.
	backend.Backend
	mu     sync.Mutex
	starts []string
}

var errNoContainers = errors.New("recording backend: starts no containers")

func (b *recordingBackend) Name() string { return "recording" }
func (b *recordingBackend) NewSession(_ context.Context, spec backend.SessionSpec) (backend.Session, error) {
	return &recordingSession{b: b, id: spec.ID}, nil
}
func (b *recordingBackend) Sweep(context.Context, func(string) bool) (backend.SweepReport, error) {
	return backend.SweepReport{}, nil
}
func (b *recordingBackend) Close() error { return nil }

func (b *recordingBackend) started() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.starts...)
}

type recordingSession struct {
	backend.Session
	b  *recordingBackend
	id string
}

func (s *recordingSession) ID() string { return s.id }
func (s *recordingSession) Start(_ context.Context, spec backend.ContainerSpec) (backend.Container, error) {
	s.b.mu.Lock()
	s.b.starts = append(s.b.starts, spec.Name)
	s.b.mu.Unlock()
	return nil, errNoContainers
}
func (s *recordingSession) Close(context.Context) error { return nil }

func recordingEnv(t *testing.T) (*cleanroom.Env, *recordingBackend) {
	t.Helper()
	b := &recordingBackend{}
	env, err := cleanroom.New(t.Context(), cleanroom.WithBackend(b), cleanroom.WithoutProjectConfig(), cleanroom.WithoutSweep())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	return env, b
}

func TestStartValidatesEverythingBeforeStartingAnything(t *testing.T) {
	bb := func(name string, opts ...generic.Option) service.Spec {
		return generic.Spec(name, "busybox:latest", opts...)
	}
	tests := []struct {
		name  string
		specs []service.Spec
		want  []string // one substring per expected validation error
	}{
		{
			name:  "unknown dependency",
			specs: []service.Spec{bb("api", generic.WithDependsOn("db"))},
			want:  []string{`service api: depends_on: unknown service "db"`},
		},
		{
			name: "cycle shows its path",
			specs: []service.Spec{
				bb("a", generic.WithDependsOn("b")),
				bb("b", generic.WithDependsOn("c")),
				bb("c", generic.WithDependsOn("a")),
				bb("d", generic.WithDependsOn("a")),
			},
			want: []string{"depends_on: dependency cycle: a → b → c → a"},
		},
		{
			name:  "self dependency",
			specs: []service.Spec{bb("loop", generic.WithDependsOn("loop"))},
			want:  []string{"a service cannot depend on itself", "dependency cycle: loop → loop"},
		},
		{
			name:  "upper case name",
			specs: []service.Spec{bb("Web")},
			want:  []string{`service "Web": name: must be 1-63 lowercase`},
		},
		{
			name:  "empty name",
			specs: []service.Spec{bb("")},
			want:  []string{`service "": name:`},
		},
		{
			name:  "name too long for a host name",
			specs: []service.Spec{bb(strings.Repeat("x", 64))},
			want:  []string{"name: must be 1-63"},
		},
		{
			name:  "name starting with a dash",
			specs: []service.Spec{bb("-web")},
			want:  []string{`service "-web": name:`},
		},
		{
			name:  "ports out of range",
			specs: []service.Spec{bb("web", generic.WithPorts(0, 8080, 65536))},
			want:  []string{"ports: 0 is not a TCP port", "ports: 65536 is not a TCP port"},
		},
		{
			name:  "no image",
			specs: []service.Spec{generic.Spec("web", "")},
			want:  []string{"image: no image given"},
		},
		{
			name:  "relative file destination",
			specs: []service.Spec{bb("web", generic.WithFiles(backend.File{Path: "www/index.html", Content: []byte("x")}))},
			want:  []string{`files: destination "www/index.html" must be an absolute path`},
		},
		{
			name:  "same name twice with different specs",
			specs: []service.Spec{bb("web", generic.WithCommand("httpd")), bb("web", generic.WithCommand("sleep", "1"))},
			want:  []string{"service web: declared twice with different settings"},
		},
		{
			name: "every problem at once",
			specs: []service.Spec{
				bb("Bad", generic.WithPorts(-1)),
				bb("api", generic.WithDependsOn("nowhere")),
				bb("x", generic.WithDependsOn("y")),
				bb("y", generic.WithDependsOn("x")),
				generic.Spec("noimage", ""),
			},
			want: []string{
				`service "Bad": name:`,
				"ports: -1 is not a TCP port",
				`unknown service "nowhere"`,
				"dependency cycle: x → y → x",
				`service "noimage": image: no image given`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, b := recordingEnv(t)
			insts, err := env.Start(t.Context(), tt.specs...)
			if err == nil {
				t.Fatalf("Start: want validation errors %q, got instances %v and no error", tt.want, insts)
			}
			var list cleanroom.ValidationErrors
			if !errors.As(err, &list) {
				t.Fatalf("Start: want a ValidationErrors, got %T: %v", err, err)
			}
			var one *cleanroom.ValidationError
			if !errors.As(err, &one) {
				t.Fatalf("Start: errors.As(*ValidationError) found nothing in %v", err)
			}
			if len(list) != len(tt.want) {
				t.Errorf("Start: want %d validation errors, got %d:\n%v", len(tt.want), len(list), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Start: want an error containing %q, got:\n%v", w, err)
				}
			}
			if got := b.started(); len(got) != 0 {
				t.Errorf("backend: want no Start before validation passes, got starts of %v", got)
			}
		})
	}
}

// The recording backend does see starts once the specs are valid, so the
// "no start" assertions above are not vacuous. Identical specs under one
// name are one service, started once.
func TestStartReachesTheBackendWhenValid(t *testing.T) {
	env, b := recordingEnv(t)
	spec := generic.Spec("web", "busybox:latest", generic.WithCommand("httpd"))
	_, err := env.Start(t.Context(), spec, spec)
	if !errors.Is(err, errNoContainers) {
		t.Fatalf("Start: want the backend's error %v, got %v", errNoContainers, err)
	}
	if got := b.started(); len(got) != 1 || got[0] != "web" {
		t.Errorf("backend: want exactly one start of web, got %v", got)
	}
	var ve *cleanroom.ValidationError
	if errors.As(err, &ve) {
		t.Errorf("Start: want no validation error for a spec given twice identically, got %v", ve)
	}
}

// A dependent of a service whose start failed never reaches the backend.
func TestDependentOfFailedStartIsNotStarted(t *testing.T) {
	env, b := recordingEnv(t)
	_, err := env.Start(t.Context(),
		generic.Spec("api", "busybox:latest", generic.WithDependsOn("db")),
		generic.Spec("db", "busybox:latest"),
	)
	want := "service api: not started because its dependency db failed"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Start: want an error containing %q, got %v", want, err)
	}
	if got := b.started(); len(got) != 1 || got[0] != "db" {
		t.Errorf("backend: want only db started, got %v", got)
	}
}

func TestStartAfterCloseFails(t *testing.T) {
	env, b := recordingEnv(t)
	if err := env.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := env.Start(t.Context(), generic.Spec("web", "busybox:latest"))
	var be *cleanroom.BackendError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Start after Close: want a *BackendError saying the environment is closed, got %T: %v", err, err)
	}
	if got := b.started(); len(got) != 0 {
		t.Errorf("backend: want no start after Close, got %v", got)
	}
}

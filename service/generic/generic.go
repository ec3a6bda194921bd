// Package generic is the service kind for any container image: the caller
// says what to run and how to know it is ready.
package generic

import (
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service"
)

// Kind is the service kind's name in specs and suite files.
const Kind = "generic"

// Option configures a generic spec.
type Option func(*service.Spec)

// WithCommand sets the container's command (the image's CMD otherwise).
func WithCommand(argv ...string) Option { return func(s *service.Spec) { s.Command = argv } }

// WithEntrypoint replaces the image's entrypoint.
func WithEntrypoint(argv ...string) Option { return func(s *service.Spec) { s.Entrypoint = argv } }

// WithEnv adds environment variables.
func WithEnv(env map[string]string) Option {
	return func(s *service.Spec) {
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		for k, v := range env {
			s.Env[k] = v
		}
	}
}

// WithPorts declares the container ports the runner reaches; the first is
// the primary port.
func WithPorts(ports ...int) Option {
	return func(s *service.Spec) { s.Ports = append(s.Ports, ports...) }
}

// WithFiles copies files in before the container starts.
func WithFiles(files ...backend.File) Option {
	return func(s *service.Spec) { s.Files = append(s.Files, files...) }
}

// WithDependsOn names services that must be ready before this one starts.
func WithDependsOn(names ...string) Option {
	return func(s *service.Spec) { s.DependsOn = append(s.DependsOn, names...) }
}

// WithReady sets the readiness checks; several are all required.
func WithReady(checks ...ready.Check) Option {
	return func(s *service.Spec) {
		if len(checks) == 1 {
			s.Ready = checks[0]
		} else {
			s.Ready = ready.All(checks...)
		}
	}
}

// WithUser runs the container as user ("uid", "uid:gid" or a name).
func WithUser(user string) Option { return func(s *service.Spec) { s.User = user } }

// Spec declares a service running image.
func Spec(name, image string, opts ...Option) service.Spec {
	s := service.Spec{Name: name, Kind: Kind, Image: image}
	for _, o := range opts {
		o(&s)
	}
	return s
}

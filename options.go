package cleanroom

import (
	"github.com/cleanroomhq/cleanroom/policy"

	"github.com/cleanroomhq/cleanroom/backend"
)

// Option configures New.
type Option func(*settings)

type settings struct {
	backend     backend.Backend
	backendName string
	private     bool
	images      map[string]string
	pull        backend.PullPolicy
	noSweep     bool
	noProject   bool
	projectDir  string
	logf        func(format string, args ...any)
	policy      *policy.Policy
}

// WithPolicy sets the policy of every container whose spec gives none
// (a zero service.Spec.Policy or backend.ContainerSpec.Policy).
// Without it they run under the project's [policy] in cleanroom.toml,
// which starts from the "standard" preset: a private network with no route
// out, no privilege escalation, a process limit. Build one with
// policy.Preset and adjust its fields, or with policy.Resolve.
func WithPolicy(p policy.Policy) Option { return func(s *settings) { s.policy = &p } }

// WithBackend runs the environment on b (a backend/docker or backend/local
// Backend, or one of your own) instead of the one New would pick. The
// environment does not close b.
func WithBackend(b backend.Backend) Option { return func(s *settings) { s.backend = b } }

// WithPrivateEndpoints keeps services reachable only through the
// environment's own dialer (Env.DialContext, service.Instance.DialContext),
// which is how the suite runner connects. Without it, services of a backend
// whose containers the runner's machine cannot reach directly (the local
// backend) get their primary port published on this machine's loopback, so
// that code connecting by itself, given Instance.URL, reaches them.
func WithPrivateEndpoints() Option { return func(s *settings) { s.private = true } }

// WithBackendName picks the backend by name: "docker", "local" (sandboxed
// processes of this machine, no engine needed) or "auto", the default:
// Docker when an engine answers, local otherwise. It overrides the
// project's backend setting and CLEANROOM_BACKEND.
func WithBackendName(name string) Option { return func(s *settings) { s.backendName = name } }

// WithImageMap rewrites image references ("postgres:16" → a mirror or a
// local build). It is applied on top of the project's [images] and
// CLEANROOM_IMAGE_MAP, and wins over both.
func WithImageMap(m map[string]string) Option {
	return func(s *settings) {
		if s.images == nil {
			s.images = map[string]string{}
		}
		for k, v := range m {
			s.images[k] = v
		}
	}
}

// WithPullPolicy says when images may be pulled: backend.PullMissing
// (default), PullNever (an absent image is a *ResourceError), PullAlways.
func WithPullPolicy(p backend.PullPolicy) Option { return func(s *settings) { s.pull = p } }

// WithoutSweep skips removing the leftovers of dead sessions at start.
func WithoutSweep() Option { return func(s *settings) { s.noSweep = true } }

// WithProjectDir sets where cleanroom.toml is searched from (default: the
// working directory, upwards).
func WithProjectDir(dir string) Option { return func(s *settings) { s.projectDir = dir } }

// WithoutProjectConfig ignores cleanroom.toml and CLEANROOM_* settings.
func WithoutProjectConfig() Option { return func(s *settings) { s.noProject = true } }

// WithLogf receives progress messages (service started, ready, removed).
func WithLogf(f func(format string, args ...any)) Option { return func(s *settings) { s.logf = f } }

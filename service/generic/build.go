package generic

import "github.com/cleanroomhq/cleanroom/service"

// WithBuild makes the service's image from a Dockerfile instead of running
// an existing one; give "" as Spec's image. The environment builds it when
// the service starts, once per environment (services with the same build
// share the image), tags it cleanroom-build/<name>:<session>, and removes it
// at Close unless b.Keep.
func WithBuild(b service.Build) Option {
	return func(s *service.Spec) { s.Build = &b }
}

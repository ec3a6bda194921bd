// Package pick chooses the backend a run uses: the Docker engine when asked
// for or when one answers, the local backend (sandboxed processes of this
// machine) when asked for or when none does.
package pick

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/errs"
)

// Backend names, as --backend, CLEANROOM_BACKEND and cleanroom.toml's
// backend key give them.
const (
	Auto   = "auto"
	Docker = "docker"
	Local  = "local"
)

// Names lists the accepted names, for messages.
var Names = []string{Docker, Local, Auto}

// Check says whether name is a backend name ("" means auto).
func Check(name string) error {
	switch name {
	case "", Auto, Docker, Local:
		return nil
	}
	return fmt.Errorf("unknown backend %q (want one of %s)", name, strings.Join(Names, ", "))
}

// probeLimit bounds how long auto waits for a Docker engine to answer: an
// engine that takes longer is not one to run tests on.
const probeLimit = 5 * time.Second

// Backend connects to the backend name ("" or "auto": Docker if an engine
// answers, else local) and says why it is the one, for the user:
// "docker (the engine answered at unix:///var/run/docker.sock)".
func Backend(ctx context.Context, name string) (backend.Backend, string, error) {
	if err := Check(name); err != nil {
		return nil, "", &errs.ValidationError{Field: "backend", Message: err.Error()}
	}
	switch name {
	case Docker:
		b, err := docker.New(ctx)
		return b, "docker (asked for)", err
	case Local:
		b, err := local.New()
		if err != nil {
			return nil, "", err
		}
		return b, localWhy(b, "asked for"), nil
	}
	pctx, cancel := context.WithTimeout(ctx, probeLimit)
	d, derr := docker.New(pctx)
	cancel()
	if derr == nil {
		return d, "docker (a Docker engine answered)", nil
	}
	if ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	l, lerr := local.New()
	if lerr != nil {
		return nil, "", fmt.Errorf("no backend can run here: %w", errors.Join(derr, lerr))
	}
	return l, localWhy(l, noEngine(derr)), nil
}

// localWhy says why the local backend is the one, and that it runs
// without root when it does: its sandboxes differ then
// (docs/backends.md, "Without root").
func localWhy(l *local.Backend, why string) string {
	if l.Rootless() {
		why += "; without root, in user namespaces"
	}
	return "local (" + why + ")"
}

// noEngine says briefly why Docker is not the backend.
func noEngine(err error) string {
	var be *errs.BackendError
	if errors.As(err, &be) && be.Target != "" {
		return "no Docker engine answered at " + be.Target
	}
	return "no Docker engine answered: " + firstLine(err.Error())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	const max = 160
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

package runner

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/suite"
)

// CheckBackend lists, each at its position in the file, what in a suite the
// backend cannot run, before anything starts.
//
// A backend without images (runsImages false: the local backend) runs
// programs of this machine. A generic service runs its command from here
// (its image, if any, is not used), so it needs a command whose program is
// installed, and no build; one-shot steps run their command from here too.
// There is no network to the host (no "bridge"), and the services of an
// environment share one loopback, so two of them cannot use one port.
// PostgreSQL and Redis services run from this machine's installation
// whatever image they name.
//
// A backend with images cannot run a generic service that gives a command
// and no image: that is a program of this machine, which only the local
// backend runs.
//
// Whatever the backend, what its Restrictions rule out is refused where
// the suite asks for it: a memory or CPU limit, at the key (or preset)
// that set it; a user other than root, and PostgreSQL, which runs as one.
func CheckBackend(s *suite.Suite, project *suite.Policy, t Traits) errs.ValidationErrors {
	var list errs.ValidationErrors
	add := func(pos suite.Pos, format string, args ...any) {
		p := pos.String()
		if !pos.IsValid() {
			p = s.File
		}
		list = append(list, &errs.ValidationError{Pos: p, Message: fmt.Sprintf(format, args...)})
	}
	var ps *policies // resolved once, for what needs them
	if !t.RunsImages || t.Limits != "" || t.Users != "" {
		ps = resolvePolicies(s, project)
	}
	if t.Limits != "" || t.Users != "" {
		list = append(list, checkRestrictions(s, ps, t.Restrictions)...)
	}
	if t.RunsImages {
		for _, svc := range s.Services {
			if svc.Kind.Value == suite.KindGeneric && !svc.Image.IsSet() && svc.Build == nil {
				add(svc.Pos, "service %q has a command and no image: it runs a program of this machine, which only the local backend does (--backend local); give it an image to run it here", svc.Name)
			}
		}
		return list
	}
	const why = "needs the Docker backend (--backend docker): the local backend runs programs of this machine, not images"
	usedBy := map[int]string{}
	for _, svc := range s.Services {
		if svc.Kind.Value == suite.KindGeneric {
			argv := append(slices.Clone(svc.Entrypoint), svc.Command...)
			switch {
			case svc.Build != nil:
				add(svc.Build.Pos, "service %q: a build %s", svc.Name, why)
			case len(argv) == 0:
				add(svc.Image.Pos, "service %q: image %s runs its own command, which %s; give the service a command to run from this machine", svc.Name, svc.Image.Value, why)
			default:
				if err := hostProgram(argv[0].Text); err != nil {
					add(argv[0].Pos, "service %q: %v, and the local backend runs the service's command from this machine (its image is not used); install it, or use the Docker backend (--backend docker)", svc.Name, err)
				}
			}
		}
		if ps.services[svc.Name].Network == policy.Bridge {
			add(svc.Pos, "service %q: network \"bridge\" needs the Docker backend: the local backend has no network to the host", svc.Name)
		}
		ports := svc.Ports.Value
		if len(ports) == 0 && svc.PrimaryPort() != 0 {
			ports = []int{svc.PrimaryPort()}
		}
		for _, p := range slices.Compact(slices.Sorted(slices.Values(ports))) {
			if other, ok := usedBy[p]; ok {
				add(svc.Pos, "services %q and %q both use port %d: on the local backend the services of a suite share one loopback, so each port can be used once", other, svc.Name, p)
				continue
			}
			usedBy[p] = svc.Name
		}
	}
	for _, sc := range s.Scenarios {
		for _, st := range sc.Steps {
			// Only a one-shot step runs a sandbox of its own; the others
			// run in a service's, or none.
			if e, ok := ps.steps[st]; ok && st.Image.IsSet() && e.Network == policy.Bridge {
				add(st.Pos, "step %q: network \"bridge\" needs the Docker backend: the local backend has no network to the host", st.Name.Value)
			}
		}
	}
	return list
}

// Traits is what CheckBackend knows of the backend that will run a suite.
type Traits struct {
	RunsImages bool
	backend.Restrictions
}

// TraitsOf reads the traits off b.
func TraitsOf(b backend.Backend) Traits {
	return Traits{RunsImages: backend.RunsImages(b), Restrictions: backend.RestrictionsOf(b)}
}

// checkRestrictions finds what r rules out: limits, at the key or the
// preset that set them; users other than root.
func checkRestrictions(s *suite.Suite, ps *policies, r backend.Restrictions) errs.ValidationErrors {
	var list errs.ValidationErrors
	at := func(e policy.Effective, key string, fallback suite.Pos) string {
		for _, k := range []string{key, "preset"} {
			if p := e.Origin[k]; p != "" {
				return p
			}
		}
		if fallback.IsValid() {
			return fallback.String()
		}
		return s.File
	}
	limits := func(what string, e policy.Effective, pos suite.Pos) {
		if r.Limits == "" {
			return
		}
		if e.Memory > 0 {
			list = append(list, &errs.ValidationError{Pos: at(e, "memory", pos), Message: fmt.Sprintf("%s: memory limit %s: %s", what, policy.FormatSize(e.Memory), r.Limits)})
		}
		if e.CPUs > 0 {
			list = append(list, &errs.ValidationError{Pos: at(e, "cpus", pos), Message: fmt.Sprintf("%s: cpu limit %g: %s", what, e.CPUs, r.Limits)})
		}
	}
	users := func(what, user string, pos string) {
		if r.Users != "" && !rootOnly(user) {
			list = append(list, &errs.ValidationError{Pos: pos, Message: fmt.Sprintf("%s: user %q: %s", what, user, r.Users)})
		}
	}
	for _, svc := range s.Services {
		e := ps.services[svc.Name]
		what := fmt.Sprintf("service %q", svc.Name)
		limits(what, e, svc.Pos)
		users(what, e.User, at(e, "user", svc.Pos))
		if svc.Kind.Value == suite.KindPostgres && r.Users != "" {
			list = append(list, &errs.ValidationError{Pos: svc.Pos.String(), Message: fmt.Sprintf("%s: PostgreSQL runs as its own user, postgres, never as root: %s", what, r.Users)})
		}
	}
	for _, sc := range s.Scenarios {
		for _, st := range sc.Steps {
			what := fmt.Sprintf("step %q", st.Name.Value)
			e, oneShot := ps.steps[st]
			oneShot = oneShot && st.Image.IsSet()
			if oneShot {
				limits(what, e, st.Pos)
			}
			switch {
			case st.User.IsSet():
				users(what, st.User.Value, st.User.Pos.String())
			case oneShot:
				// A sandbox of its own, as its policy's user; an exec in
				// a service runs as the service's, checked there.
				users(what, e.User, at(e, "user", st.Pos))
			}
		}
	}
	return list
}

// rootOnly says whether a "user[:group]" is root's user and group, all a
// sandbox with a single user has.
func rootOnly(spec string) bool {
	u, g, _ := strings.Cut(spec, ":")
	root := func(s string) bool { return s == "" || s == "root" || s == "0" }
	return root(u) && root(g)
}

// hostProgram checks that a command's program is installed on this
// machine where a sandbox finds it. A templated name is known only when
// the step runs.
func hostProgram(name string) error {
	if name == "" || strings.Contains(name, "{{") {
		return nil
	}
	if _, err := local.LookPath(name, ""); errors.Is(err, local.ErrNotFound) {
		return fmt.Errorf("program %q is not installed on this machine", name)
	} else if err != nil {
		return fmt.Errorf("program %q cannot run in a sandbox: %v", name, err)
	}
	return nil
}

package runner

import (
	"errors"
	"fmt"
	"slices"
	"strings"

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
func CheckBackend(s *suite.Suite, project *suite.Policy, runsImages bool) errs.ValidationErrors {
	var list errs.ValidationErrors
	add := func(pos suite.Pos, format string, args ...any) {
		p := pos.String()
		if !pos.IsValid() {
			p = s.File
		}
		list = append(list, &errs.ValidationError{Pos: p, Message: fmt.Sprintf(format, args...)})
	}
	if runsImages {
		for _, svc := range s.Services {
			if svc.Kind.Value == suite.KindGeneric && !svc.Image.IsSet() && svc.Build == nil {
				add(svc.Pos, "service %q has a command and no image: it runs a program of this machine, which only the local backend does (--backend local); give it an image to run it here", svc.Name)
			}
		}
		return list
	}
	const why = "needs the Docker backend (--backend docker): the local backend runs programs of this machine, not images"
	ps := resolvePolicies(s, project)
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

package cli

import (
	"errors"

	"github.com/cleanroomhq/cleanroom/config"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/suite"
)

// checkPolicies loads the project's [policy] from cleanroom.toml (found
// from the working directory up, or $CLEANROOM_CONFIG) and checks every
// suite's policies under it. It returns the project policy (nil when there
// is none) and the problems found; err is for a project file that does not
// load at all. Each command words its own summary.
func checkPolicies(suites []*suite.Suite) (project *config.Project, problems errs.ValidationErrors, err error) {
	proj, err := config.Load(".")
	if err != nil {
		var one *errs.ValidationError
		switch {
		case errors.As(err, &problems):
			return nil, problems, nil
		case errors.As(err, &one):
			return nil, errs.ValidationErrors{one}, nil
		}
		return nil, nil, err
	}
	for _, err := range []error{runner.CheckPolicies(suites, proj.Policy), runner.CheckSnapshots(suites)} {
		var list errs.ValidationErrors
		switch {
		case err == nil:
		case errors.As(err, &list):
			problems = append(problems, list...)
		default:
			return nil, nil, err
		}
	}
	if len(problems) > 0 {
		return nil, problems, nil
	}
	return proj, nil, nil
}

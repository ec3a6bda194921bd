package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/cleanroomhq/cleanroom/config"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/suite"
)

// projectPolicy loads the project's [policy] from cleanroom.toml (found from
// the working directory up, or $CLEANROOM_CONFIG); nil when there is none.
func projectPolicy() (*suite.Policy, error) {
	proj, err := config.Load(".")
	if err != nil {
		return nil, err
	}
	return proj.Policy, nil
}

// checkPolicies runs the policy checks of every suite under the project's
// policy and prints each problem; it returns an exitInvalid error when there
// are any.
func checkPolicies(stderr io.Writer, suites []*suite.Suite) (*suite.Policy, error) {
	project, err := projectPolicy()
	if err == nil {
		err = runner.CheckPolicies(suites, project)
	}
	if err == nil {
		return project, nil
	}
	var list errs.ValidationErrors
	var one *errs.ValidationError
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = errs.ValidationErrors{one}
	default:
		return nil, &exitError{exitInvalid, err}
	}
	for _, p := range list {
		fmt.Fprintln(stderr, p)
	}
	return nil, &exitError{exitInvalid, fmt.Errorf("%s: nothing was run", plural(len(list), "error"))}
}

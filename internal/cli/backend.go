package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/config"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/pick"
	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/suite"
)

func addBackendFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVar(name, "backend", "", `where containers run: "docker", "local" (sandboxed processes of this machine, no engine needed) or "auto" (Docker when an engine answers, else local); default: cleanroom.toml's backend, $CLEANROOM_BACKEND, or auto`)
}

// chooseBackend connects to the backend of a run and says which it is and
// why. What a suite needs that the backend cannot do (runner.CheckBackend)
// is an error when the user named the backend; when auto chose it, those
// suites are skipped, each with a one-line reason, and the others run.
func chooseBackend(ctx context.Context, cmd *cobra.Command, flag string, project *config.Project, suites []*suite.Suite) (backend.Backend, []*suite.Suite, error) {
	name := flag
	if name == "" {
		name = project.Backend
	}
	if err := pick.Check(name); err != nil {
		return nil, nil, usageError{fmt.Errorf("--backend: %w", err)}
	}
	b, why, err := pick.Backend(ctx, name)
	if err != nil {
		return nil, nil, &exitError{exitInfra, err}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "backend: %s\n", why)
	chosen := name != "" && name != pick.Auto
	var keep []*suite.Suite
	var problems errs.ValidationErrors
	for _, s := range suites {
		list := runner.CheckBackend(s, project.Policy, runner.TraitsOf(b))
		switch {
		case len(list) == 0:
			keep = append(keep, s)
		case chosen:
			problems = append(problems, list...)
		default:
			more := ""
			if len(list) > 1 {
				more = fmt.Sprintf(" (and %d more)", len(list)-1)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "skip %s: %s%s\n", s.File, list[0].Message, more)
		}
	}
	if len(problems) > 0 {
		_ = b.Close()
		return nil, nil, invalid(cmd, problems, fmt.Sprintf("%s on the %s backend: nothing was run", plural(len(problems), "error"), b.Name()))
	}
	if len(keep) == 0 {
		_ = b.Close()
		return nil, nil, &exitError{exitInvalid, errors.New("no suite can run on the " + b.Name() + " backend: nothing was run")}
	}
	return b, keep, nil
}

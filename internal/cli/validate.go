package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/pick"
	"github.com/cleanroomhq/cleanroom/runner"
	"github.com/cleanroomhq/cleanroom/suite"
)

func newValidate() *cobra.Command {
	var backendName string
	cmd := &cobra.Command{
		Use:   "validate [paths...]",
		Short: "Check suite files without running anything",
		Long: `validate loads the suites at the given paths (files, or directories searched
recursively for *.cleanroom.toml; default ".") and checks everything that can
be checked before a container starts. Every problem of every file is printed,
one per line as file:line:col: message, and the command exits 2; a clean run
prints what it found and exits 0. Directories named testdata or starting
with "." or "_" are skipped unless named on the command line. With
--backend docker or local, it also checks that the suites can run there.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := suite.Find(args...)
			var problems errs.ValidationErrors
			if err != nil && !errors.As(err, &problems) {
				return &exitError{exitInvalid, err}
			}
			var suites []*suite.Suite
			for _, f := range files {
				s, err := suite.Load(f)
				if err != nil {
					var list errs.ValidationErrors
					if !errors.As(err, &list) {
						return err
					}
					problems = append(problems, list...)
					continue
				}
				suites = append(suites, s)
			}
			if len(problems) > 0 {
				return invalid(cmd, problems, plural(len(files), "file")+", "+plural(len(problems), "error"))
			}
			proj, problems, err := checkPolicies(suites)
			if err != nil {
				return &exitError{exitInvalid, err}
			}
			switch backendName {
			case "", pick.Auto:
			case pick.Docker, pick.Local:
				t := runner.Traits{RunsImages: true}
				if backendName == pick.Local {
					t = runner.Traits{Restrictions: local.RestrictionsHere()}
				}
				for _, s := range suites {
					problems = append(problems, runner.CheckBackend(s, proj.Policy, t)...)
				}
			default:
				return usageError{fmt.Errorf("--backend: %w", pick.Check(backendName))}
			}
			if len(problems) > 0 {
				return invalid(cmd, problems, plural(len(problems), "error"))
			}
			scenarios, steps := 0, 0
			for _, s := range suites {
				scenarios += len(s.Scenarios)
				steps += s.Steps()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s, %s, %s\n", plural(len(suites), "suite"), plural(scenarios, "scenario"), plural(steps, "step"))
			return nil
		},
	}
	cmd.Flags().StringVar(&backendName, "backend", "", `also check that the suites can run on this backend: "docker" or "local"`)
	return cmd
}

// invalid prints each problem on a line of its own (file:line:col:
// message) and returns the exit error for invalid input, saying msg.
func invalid(cmd *cobra.Command, problems errs.ValidationErrors, msg string) error {
	for _, p := range problems {
		fmt.Fprintln(cmd.ErrOrStderr(), p)
	}
	return &exitError{exitInvalid, errors.New(msg)}
}

// loadSuites loads the suites at paths; the problems of invalid files are
// printed, and the error says that nothing was notDone ("run", "pruned").
func loadSuites(cmd *cobra.Command, paths []string, notDone string) ([]*suite.Suite, error) {
	suites, err := suite.LoadAll(paths...)
	var list errs.ValidationErrors
	switch {
	case errors.As(err, &list):
		return nil, invalid(cmd, list, plural(len(list), "error")+": nothing was "+notDone)
	case err != nil:
		return nil, &exitError{exitInvalid, err}
	}
	return suites, nil
}

// plural says "1 file" or "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

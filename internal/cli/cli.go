// Package cli implements the cleanroom command line.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// Main runs the command line and returns the process exit code: 0 success,
// 1 failure, 2 usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "cleanroom:", err)
		var u usageError
		var x *exitError
		switch {
		case errors.As(err, &u):
			return exitInvalid
		case errors.As(err, &x):
			return x.code
		}
		return exitFailed
	}
	return 0
}

type usageError struct{ error }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "cleanroom",
		Short:         "Hermetic integration tests: real services, isolated, nothing left behind",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRun(), newValidate(), newSnapshots(), newRuns(), newGC(), newVersion(), newKeygen(), newAttest(), newReport())
	return root
}

func newGC() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove what cleanroom sessions whose process is gone left behind",
		Long: `gc removes the containers, networks and built images of cleanroom sessions
whose owner process no longer runs on this machine (it was killed, or
crashed), on the Docker engine when one answers, and the sandboxes, cgroups
and state of the local backend's sessions when it can run here. Sessions of
live processes, sessions created on other hosts, and images built with
keep = true are never touched. Every new environment does the same sweep
when it starts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var swept int
			var errList []error
			sweep := func(b backend.Backend) {
				defer b.Close()
				rep, err := b.Sweep(ctx, owner.Alive)
				fmt.Fprintf(cmd.OutOrStdout(), "%s: removed %d container(s), %d network(s), %d volume(s) and %d image(s) of %d dead session(s)\n",
					b.Name(), len(rep.Containers), len(rep.Networks), len(rep.Volumes), len(rep.Images), len(rep.Sessions))
				errList = append(errList, err)
				swept++
			}
			d, derr := docker.New(ctx)
			if derr == nil {
				sweep(d)
			}
			l, lerr := local.New()
			if lerr == nil {
				sweep(l)
			}
			if swept == 0 {
				return errors.Join(derr, lerr)
			}
			return errors.Join(errList...)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	return cmd
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cleanroom's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "cleanroom", Version())
		},
	}
}

// Version is the module version the binary was built from, or "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom/artifact"
)

func newRuns() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "Manage the output folders runs leave in " + artifact.RunsDir,
	}
	var keep int
	var dir string
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove the oldest run folders, keeping the newest --keep",
		Long: `prune removes run output folders under ` + artifact.RunsDir + ` (or --dir), oldest
first, until --keep remain. Only folders with an index.json, which every run
writes, are counted or removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keep < 0 {
				return usageError{fmt.Errorf("--keep must be 0 or more, got %d", keep)}
			}
			removed, err := artifact.Prune(dir, keep)
			for _, r := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s removed\n", plural(len(removed), "run folder"))
			if err != nil {
				return &exitError{exitInfra, err}
			}
			return nil
		},
	}
	prune.Flags().IntVar(&keep, "keep", 10, "how many of the newest run folders to keep")
	prune.Flags().StringVar(&dir, "dir", artifact.RunsDir, "the folder holding the run folders")
	cmd.AddCommand(prune)
	return cmd
}

package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom/snapshot"
)

func newSnapshots() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "Manage the snapshots suites keep in __snapshots__ folders",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "prune [paths...]",
		Short: "Remove snapshot entries and files no suite refers to any more",
		Long: `prune loads the suites in the given folders (default ".") and removes, from
the __snapshots__ folders under those paths, every entry that no step's
snapshot names, and every .snap file that belongs to no suite. It prints
what it removed. Suites must load: a suite with errors could hide the
steps that still use a snapshot.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			// A folder and every suite under it, never a single file:
			// the snapshots of a suite beside it that was not loaded
			// would look unreferenced, and go.
			for _, a := range args {
				if info, err := os.Stat(a); err == nil && !info.IsDir() {
					return usageError{fmt.Errorf("prune takes folders, and %s is a file: give its folder, so that every suite there is seen", a)}
				}
			}
			suites, err := loadSuites(cmd, args, "pruned")
			if err != nil {
				return err
			}
			referenced := map[string]map[string]bool{}
			for _, s := range suites {
				path := snapshot.PathFor(s.File, s.Name.Value)
				if referenced[path] == nil {
					referenced[path] = map[string]bool{}
				}
				for _, sc := range s.Scenarios {
					for _, st := range sc.Steps {
						if st.Snapshot.IsSet() {
							referenced[path][st.Snapshot.Value] = true
						}
					}
				}
			}
			removed := 0
			for _, root := range args {
				gone, err := snapshot.Prune(root, referenced)
				for _, g := range gone {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", g)
				}
				removed += len(gone)
				if err != nil {
					return &exitError{exitInfra, err}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s removed\n", plural(removed, "snapshot"))
			return nil
		},
	})
	return cmd
}

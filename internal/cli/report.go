package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cleanroomhq/cleanroom/report"
)

func newReport() *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "report REPORT.json",
		Short: "Convert a saved JSON report into another format",
		Long: `report reads a JSON report written by cleanroom run (--report-json, or
report.json in a run's output folder) and writes it as JUnit XML, CTRF
JSON or a self-contained HTML page, as if the run had been asked for that format.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return &exitError{exitInvalid, err}
			}
			defer f.Close()
			run, err := report.ReadJSON(f)
			if err != nil {
				return &exitError{exitInvalid, err}
			}
			switch format {
			case report.FormatJUnit, report.FormatCTRF, report.FormatHTML, report.FormatJSON:
			default:
				return usageError{fmt.Errorf("--format must be %s, %s, %s or %s, not %q", report.FormatJUnit, report.FormatCTRF, report.FormatHTML, report.FormatJSON, format)}
			}
			if out == "" {
				return usageError{fmt.Errorf("--out is required: the file to write")}
			}
			if err := report.WriteFile(out, format, run); err != nil {
				return &exitError{exitInfra, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s)\n", out, format)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", report.FormatJUnit, "junit, ctrf, html or json")
	cmd.Flags().StringVarP(&out, "out", "o", "", "the file to write")
	return cmd
}

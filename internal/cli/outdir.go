package cli

import (
	"fmt"
	"os"

	"github.com/cleanroomhq/cleanroom/artifact"
	"github.com/cleanroomhq/cleanroom/report"
)

// outDir is a run's output folder (package artifact) with the files the
// command itself writes there: the audit log while the run goes, the
// reports and the index at its end.
type outDir struct {
	*artifact.Dir
	audit *os.File
}

const (
	auditName      = "audit.jsonl"
	reportJSONName = "report.json"
	reportXMLName  = "junit.xml"
	reportCTRFName = "ctrf.json"
	// report.html lives in the folder because its links to step outputs,
	// logs and artifacts are relative to it.
	reportHTMLName = "report.html"
	traceName      = "trace.jsonl"
)

func newOutDir(path string) (*outDir, error) {
	d, err := artifact.New(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(d.Path(auditName))
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &outDir{Dir: d, audit: f}, nil
}

// finish closes the audit log, writes both reports and the index.
func (o *outDir) finish(run *report.Run) error {
	if err := o.audit.Close(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := o.Add(auditName, artifact.Entry{Kind: "audit"}); err != nil {
		return err
	}
	for _, r := range []struct{ name, format string }{{reportJSONName, "json"}, {reportXMLName, "junit"}, {reportCTRFName, "ctrf"}, {reportHTMLName, "html"}} {
		if err := report.WriteFile(o.Path(r.name), r.format, run); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := o.Add(r.name, artifact.Entry{Kind: "report"}); err != nil {
			return err
		}
	}
	return o.WriteIndex()
}

// Close closes the audit log when finish did not run.
func (o *outDir) Close() { _ = o.audit.Close() }

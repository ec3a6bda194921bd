package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/report"
)

func TestConsoleStatusLine(t *testing.T) {
	s := &report.Suite{Name: "users"}
	sc := &report.Scenario{Name: "signup"}
	st := &report.Step{Name: "insert", Status: report.Failed, DurationMS: 12}

	var tty bytes.Buffer
	c := &console{w: &tty, color: true}
	c.StepStarted(s, sc, st)
	if !strings.Contains(tty.String(), "… users / signup / insert") {
		t.Fatalf("terminal: status line missing: %q", tty.String())
	}
	c.StepFinished(s, sc, st)
	// The status line is erased before the step's own line is printed.
	out := tty.String()
	if i, j := strings.Index(out, "\r\x1b[K"), strings.Index(out, "✗"); i < 0 || j < i {
		t.Errorf("terminal: status line not cleared before the result line: %q", out)
	}

	var plain bytes.Buffer
	c = &console{w: &plain}
	c.StepStarted(s, sc, st)
	c.StepFinished(s, sc, st)
	if got := plain.String(); strings.Contains(got, "\x1b") || strings.Contains(got, "…") || !strings.Contains(got, "✗ insert") {
		t.Errorf("not a terminal: want a plain result line and no status line, got %q", got)
	}
}

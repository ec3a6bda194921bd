package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/snapshot"
)

// console prints progress as it happens and the failures in full at the
// end. On a terminal (unless NO_COLOR or CI is set) it uses colour and keeps
// a status line naming the step that runs, rewritten in place; elsewhere it
// prints plain lines only. Suites running concurrently (--jobs) print whole
// lines.
type console struct {
	w       io.Writer
	verbose bool
	color   bool // a terminal that takes colour and the status line

	mu     sync.Mutex
	status bool // a status line is on screen and must be cleared first
}

func newConsole(w io.Writer, verbose bool) *console {
	c := &console{w: w, verbose: verbose}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == "" && os.Getenv("CI") == "" {
		c.color = true
	}
	return c
}

const (
	green  = "\x1b[32m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

func (c *console) paint(color, s string) string {
	if !c.color {
		return s
	}
	return color + s + reset
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearStatus()
	fmt.Fprintf(c.w, format, args...)
}

// clearStatus erases the status line; c.mu is held.
func (c *console) clearStatus() {
	if c.status {
		fmt.Fprint(c.w, "\r\x1b[K")
		c.status = false
	}
}

// StepStarted shows the running step on the status line (terminals only).
func (c *console) StepStarted(s *report.Suite, sc *report.Scenario, st *report.Step) {
	if !c.color {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearStatus()
	fmt.Fprintf(c.w, "%s", c.paint(dim, fmt.Sprintf("  … %s / %s / %s", s.Name, sc.Name, st.Name)))
	c.status = true
}

func (c *console) mark(s report.Status) string {
	switch s {
	case report.Passed:
		return c.paint(green, "✓")
	case report.Failed:
		return c.paint(red, "✗")
	case report.Errored:
		return c.paint(red, "!")
	}
	return c.paint(yellow, "-")
}

func dur(msec float64) string {
	return (time.Duration(msec * float64(time.Millisecond))).Round(time.Millisecond).String()
}

func (c *console) SuiteStarted(s *report.Suite) {
	c.printf("▶ %s %s\n", s.Name, c.paint(dim, fmt.Sprintf("(%s, seed %d)", s.File, s.Seed)))
}

func (c *console) ServiceReady(s *report.Suite, svc *report.Service) {
	c.printf("  %s service %s ready in %s %s\n", c.paint(dim, "·"), svc.Name, dur(svc.ReadyMS), c.paint(dim, svc.Image))
	if c.verbose && svc.Policy != nil {
		c.printf("        %s\n", c.paint(dim, "policy: "+svc.Policy.Describe()))
	}
}

func (c *console) ScenarioStarted(*report.Suite, *report.Scenario) {}

func (c *console) StepFinished(s *report.Suite, sc *report.Scenario, st *report.Step) {
	if !c.verbose && st.Status == report.Passed && len(st.Notes) == 0 {
		return
	}
	c.printf("      %s %s %s\n", c.mark(st.Status), st.Name, c.paint(dim, dur(st.DurationMS)))
	if c.verbose && st.Output != nil {
		for _, line := range outputLines(st.Output) {
			c.printf("        %s\n", c.paint(dim, line))
		}
	}
	if c.verbose && st.Resources != nil {
		c.printf("        %s\n", c.paint(dim, "resources: "+resourceLine(st.Resources)))
	}
	for _, n := range st.Notes {
		c.printf("        %s\n", c.paint(yellow, "note: "+n))
	}
}

// resourceLine summarizes a step's usage: "cpu 0.12s, memory 12.3MiB of
// 256MiB, pids 3 of 128, net 1.2KiB in / 800B out".
func resourceLine(r *report.Resources) string {
	of := func(v, limit int64, f func(int64) string) string {
		if limit > 0 {
			return f(v) + " of " + f(limit)
		}
		return f(v)
	}
	itoa := func(n int64) string { return fmt.Sprint(n) }
	return fmt.Sprintf("cpu %.2fs, memory %s, pids %s, net %s in / %s out",
		r.CPUSeconds, of(r.MemoryPeakBytes, r.MemoryLimitBytes, report.Bytes), of(r.PidsPeak, r.PidsLimit, itoa),
		report.Bytes(int64(r.NetRxBytes)), report.Bytes(int64(r.NetTxBytes)))
}

func (c *console) ScenarioFinished(s *report.Suite, sc *report.Scenario) {
	extra := ""
	if sc.Error != "" {
		extra = " — " + firstLine(sc.Error)
	}
	c.printf("  %s %s %s%s\n", c.mark(sc.Status), sc.Name, c.paint(dim, dur(sc.DurationMS)), extra)
}

func (c *console) SuiteFinished(s *report.Suite) {
	if s.Error != "" {
		c.printf("  %s could not run: %s\n", c.mark(report.Errored), firstLine(s.Error))
	}
}

func (c *console) Log(format string, args ...any) {
	if c.verbose {
		c.printf("  %s\n", c.paint(dim, fmt.Sprintf(format, args...)))
	}
}

// finish prints every failure in full, then the summary line.
func (c *console) finish(run *report.Run) {
	var b strings.Builder
	for _, s := range run.Suites {
		if s.Error != "" {
			fmt.Fprintf(&b, "\n%s %s (%s): could not run\n%s\n", c.paint(red, "ERROR"), s.Name, s.File, indent(s.Error, "    "))
		}
		for _, sc := range s.Scenarios {
			if sc.Error != "" {
				fmt.Fprintf(&b, "\n%s %s / %s: %s\n", c.paint(red, "ERROR"), s.Name, sc.Name, sc.Error)
			}
			for _, st := range sc.Steps {
				if st.Flaky != nil && st.Status == report.Passed {
					// --allow-flaky: passed, and still worth seeing.
					fmt.Fprintf(&b, "\n%s %s / %s / %s %s\n", c.paint(yellow, "FLAKY"), s.Name, sc.Name, st.Name, c.paint(dim, st.Pos))
					fmt.Fprintf(&b, "    differs in run(s) %s of %d:\n%s\n", joinRuns(st.Flaky.Differing), st.Flaky.Runs, indent(c.colorDiff(st.Flaky.Diff), "    "))
				}
				if st.Status != report.Failed {
					continue
				}
				fmt.Fprintf(&b, "\n%s %s / %s / %s %s\n", c.paint(red, "FAIL"), s.Name, sc.Name, st.Name, c.paint(dim, st.Pos))
				if st.Attempts > 1 {
					fmt.Fprintf(&b, "    after %d attempts\n", st.Attempts)
				}
				if st.Error != "" {
					fmt.Fprintf(&b, "%s\n", indent(st.Error, "    "))
				}
				for _, f := range st.Failures {
					fmt.Fprintf(&b, "%s\n", indent(c.failureText(f), "    "))
				}
			}
		}
	}
	sum := run.Summary
	line := fmt.Sprintf("%d passed, %d failed", sum.Passed, sum.Failed)
	if sum.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", sum.Skipped)
	}
	if sum.Errored > 0 {
		line += ", " + plural(sum.Errored, "error")
	}
	line += " " + c.paint(dim, "in "+dur(run.DurationMS))
	c.printf("%s\n%s\n", b.String(), line)
}

// failureText writes a failure; a diff is coloured (removed red, added
// green) when the console is.
func (c *console) failureText(f *report.Failure) string {
	var b strings.Builder
	pos := ""
	if f.Pos != "" {
		pos = " (" + f.Pos + ")"
	}
	if f.Diff != "" {
		diff := c.colorDiff(f.Diff)
		fmt.Fprintf(&b, "%s%s: expected and got differ:\n%s", f.Check, pos, diff)
		return b.String()
	}
	fmt.Fprintf(&b, "%s%s: expected %s, got %s", f.Check, pos, f.Expected, f.Got)
	return b.String()
}

func outputLines(o *report.Output) []string {
	var lines []string
	add := func(label, text string) {
		for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			if l != "" {
				lines = append(lines, label+l)
			}
		}
	}
	if o.ExitCode != nil {
		lines = append(lines, fmt.Sprintf("exit %d", *o.ExitCode))
	}
	add("stdout: ", o.Stdout)
	add("stderr: ", o.Stderr)
	if o.Status != 0 {
		lines = append(lines, fmt.Sprintf("status %d", o.Status))
	}
	add("body: ", o.Body)
	for _, r := range o.Rows {
		lines = append(lines, fmt.Sprint(r...))
	}
	if o.Reply != nil {
		lines = append(lines, fmt.Sprintf("reply: %v", o.Reply))
	}
	return lines
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// colorDiff trims a unified diff and colours it on a terminal.
func (c *console) colorDiff(diff string) string {
	diff = strings.TrimRight(diff, "\n")
	if c.color {
		diff = snapshot.ColorDiff(diff)
	}
	return diff
}

func joinRuns(runs []int) string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = fmt.Sprint(r)
	}
	return strings.Join(s, ", ")
}

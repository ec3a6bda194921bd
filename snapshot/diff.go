package snapshot

import (
	"strconv"
	"strings"

	"github.com/cleanroomhq/cleanroom/expect"
)

// Diff returns a unified diff from the snapshot want to the output got,
// headed "--- snapshot" and "+++ got", with hunks of three lines of
// context, or "" when the two are equal. As in diff(1), a last line
// without a newline is followed by `\ No newline at end of file`. A line
// that holds what a terminal would not show (a carriage return, another
// control character, trailing white space, invalid UTF-8) is written as a
// Go string literal, as in the snapshot file, so that a difference of
// "\r\n" against "\n" is visible.
func Diff(want, got string) string { return DiffLabeled(want, got, "snapshot", "got") }

// DiffLabeled is Diff with its own names for the two sides ("--- from",
// "+++ to"). The diff itself is expect.UnifiedDiff's.
func DiffLabeled(want, got, from, to string) string {
	return expect.UnifiedDiff(want, got, expect.DiffOptions{From: from, To: to, Line: quoteLine})
}

// quoteLine is a line of a diff as Diff writes it: as it is when plain,
// else quoted.
func quoteLine(text string) string {
	if plainLine(text) {
		return text
	}
	return strconv.Quote(text)
}

// ANSI escapes ColorDiff uses.
const (
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiCyan  = "\x1b[36m"
	ansiBold  = "\x1b[1m"
	ansiReset = "\x1b[0m"
)

// ColorDiff colours a diff made by Diff for a terminal: removed lines red,
// added lines green, hunk headers cyan, the two file headers bold. Whether
// the output is a terminal is the caller's business.
func ColorDiff(diff string) string {
	if diff == "" {
		return ""
	}
	var b strings.Builder
	lines := strings.SplitAfter(diff, "\n")
	for i, line := range lines {
		text, nl := strings.CutSuffix(line, "\n")
		color := ""
		switch {
		case text == "":
		case i == 0 && strings.HasPrefix(text, "--- "), i == 1 && strings.HasPrefix(text, "+++ "):
			color = ansiBold
		case text[0] == '-':
			color = ansiRed
		case text[0] == '+':
			color = ansiGreen
		case strings.HasPrefix(text, "@@ "):
			color = ansiCyan
		}
		if color != "" {
			text = color + text + ansiReset
		}
		b.WriteString(text)
		if nl {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

package snapshot

import (
	"fmt"
	"strconv"
	"strings"
)

// contextLines is how many unchanged lines surround each change in a diff.
const contextLines = 3

// maxDiffCells bounds the table of the line diff (lines × lines once the
// common start and end are set aside); beyond it the differing middle is
// shown as removed then added, which is still correct, only coarser.
const maxDiffCells = 4 << 20

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
// "+++ to").
func DiffLabeled(want, got, from, to string) string {
	if want == got {
		return ""
	}
	ops := diffLines(splitLines(want), splitLines(got))
	var b strings.Builder
	b.WriteString("--- " + from + "\n+++ " + to + "\n")
	for _, h := range hunks(ops) {
		writeHunk(&b, ops[h.start:h.end])
	}
	return b.String()
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

// splitLines cuts s after each newline; a last line without one is kept.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// op is one line of a diff: kept (' '), removed from want ('-') or added
// in got ('+'); a and b count the lines of want and got up to and
// including it.
type op struct {
	kind byte
	line string
	a, b int
}

// diffLines computes a shortest edit script with a longest common
// subsequence table over the lines between the common start and end.
func diffLines(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]

	var ops []op
	ai, bi := 0, 0
	keep := func(line string) { ai++; bi++; ops = append(ops, op{' ', line, ai, bi}) }
	del := func(line string) { ai++; ops = append(ops, op{'-', line, ai, bi}) }
	ins := func(line string) { bi++; ops = append(ops, op{'+', line, ai, bi}) }

	for _, l := range a[:pre] {
		keep(l)
	}
	if n, m := len(ma), len(mb); n*m > maxDiffCells {
		for _, l := range ma {
			del(l)
		}
		for _, l := range mb {
			ins(l)
		}
	} else {
		// lcs[i*(m+1)+j] is the length of the longest common subsequence
		// of ma[i:] and mb[j:].
		lcs := make([]int32, (n+1)*(m+1))
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*(m+1)+j] = lcs[(i+1)*(m+1)+j+1] + 1
				} else {
					lcs[i*(m+1)+j] = max(lcs[(i+1)*(m+1)+j], lcs[i*(m+1)+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				keep(ma[i])
				i, j = i+1, j+1
			case j == m || (i < n && lcs[(i+1)*(m+1)+j] >= lcs[i*(m+1)+j+1]):
				// Removals before additions, so that a changed block
				// reads as the old lines followed by the new.
				del(ma[i])
				i++
			default:
				ins(mb[j])
				j++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		keep(l)
	}
	return ops
}

type span struct{ start, end int }

// hunks groups the changes of ops with their context; changes closer than
// twice the context share a hunk.
func hunks(ops []op) []span {
	var out []span
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-contextLines)
		last := i // the last change in this hunk
		for j := i + 1; j < len(ops) && j-last-1 <= 2*contextLines; j++ {
			if ops[j].kind != ' ' {
				last = j
			}
		}
		end := min(len(ops), last+1+contextLines)
		out = append(out, span{start, end})
		i = end
	}
	return out
}

func writeHunk(b *strings.Builder, ops []op) {
	var aStart, aLen, bStart, bLen int
	for _, o := range ops {
		if o.kind != '+' {
			if aLen == 0 {
				aStart = o.a
			}
			aLen++
		}
		if o.kind != '-' {
			if bLen == 0 {
				bStart = o.b
			}
			bLen++
		}
	}
	// An empty side is numbered by the line before it, as in diff(1).
	if aLen == 0 {
		aStart = ops[0].a
	}
	if bLen == 0 {
		bStart = ops[0].b
	}
	fmt.Fprintf(b, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
	for _, o := range ops {
		b.WriteByte(o.kind)
		text, eol := strings.CutSuffix(o.line, "\n")
		if !plainLine(text) {
			text = strconv.Quote(text)
		}
		b.WriteString(text)
		b.WriteByte('\n')
		if !eol {
			b.WriteString("\\ No newline at end of file\n")
		}
	}
}

func hunkRange(start, n int) string {
	if n == 1 {
		return strconv.Itoa(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

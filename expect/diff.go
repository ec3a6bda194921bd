package expect

import (
	"fmt"
	"strings"
)

// contextLines is how many unchanged lines surround each change in a diff.
const contextLines = 3

// maxDiffCells bounds the table of the line diff (lines × lines after the
// common start and end are set aside); beyond it the differing middle is
// shown as removed then added, which is still correct, only coarser.
const maxDiffCells = 4 << 20

// Text checks that got is exactly the text expected. The failure quotes
// both sides and, when either spans more than one line, carries their
// TextDiff.
func Text(check, expected, got string) Result {
	if expected == got {
		return Result{}
	}
	f := Failure{Check: check, Expected: Format(expected), Got: Format(got)}
	if len(splitLines(expected)) > 1 || len(splitLines(got)) > 1 {
		f.Diff = TextDiff(expected, got)
	}
	return Result{Failures: []Failure{f}}
}

// TextDiff returns a unified diff from expected to got, headed
// "--- expected" and "+++ got", with hunks of three lines of context, or ""
// when the texts are equal. A last line without a newline is marked
// `\ No newline at end of file`, as diff(1) does.
func TextDiff(expected, got string) string {
	return UnifiedDiff(expected, got, DiffOptions{From: "expected", To: "got"})
}

// DiffOptions shapes a UnifiedDiff.
type DiffOptions struct {
	// From and To name the two sides in the headers ("--- From",
	// "+++ To").
	From, To string
	// Line, when set, rewrites the text of each line of a hunk (without its
	// newline) before it is written: the snapshot package uses it to quote
	// lines a terminal would not show faithfully. Nil writes lines as they
	// are.
	Line func(string) string
}

// UnifiedDiff returns a unified diff from a to b headed by o's names, with
// hunks of three lines of context, or "" when the texts are equal. A last
// line without a newline is followed by `\ No newline at end of file`, as
// diff(1) does. TextDiff is UnifiedDiff with the names "expected" and
// "got".
func UnifiedDiff(a, b string, o DiffOptions) string {
	if a == b {
		return ""
	}
	ops := diffLines(splitLines(a), splitLines(b))
	var w strings.Builder
	w.WriteString("--- " + o.From + "\n+++ " + o.To + "\n")
	for _, h := range hunks(ops) {
		writeHunk(&w, ops[h.start:h.end], o.Line)
	}
	return w.String()
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

// op is one line of a diff: kept (' '), removed from expected ('-') or
// added in got ('+'); a and b are its 1-based line numbers in expected and
// got (for '+', a is the number of expected lines before it, and so on).
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
				// Removals before additions, so a changed block reads
				// as the old lines followed by the new.
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
		last := i // last change in this hunk
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

func writeHunk(b *strings.Builder, ops []op, rewrite func(string) string) {
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
		if rewrite != nil {
			text = rewrite(text)
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
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}

package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// StepOutputLimit is the most text of one step that goes into the
// <system-out> of a JUnit report, and the most of one failure body; the
// JSON report keeps everything.
const StepOutputLimit = 64 << 10

// xmlSafe makes s a string every XML 1.0 parser accepts, keeping it
// readable: control characters other than tab, newline and carriage return
// (ANSI colour codes, NUL) and the bytes of invalid UTF-8 become a visible
// \xNN, the non-characters U+FFFE and U+FFFF become \uFFFE and \uFFFF.
// encoding/xml would turn them all into U+FFFD, hiding what they were.
func xmlSafe(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !xmlChar(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case xmlChar(r, n):
			b.WriteString(s[i : i+n])
		case r == utf8.RuneError && n == 1, r < 0x80:
			c := s[i]
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		default:
			fmt.Fprintf(&b, `\u%04X`, r)
		}
		i += n
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

// xmlChar reports whether the rune r, n bytes long in the input, may
// appear in XML 1.0 (the Char production), DEL excepted because it is as
// unprintable as the C0 controls.
func xmlChar(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1:
		return false // an invalid byte, not a real U+FFFD
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20 || r == 0x7f:
		return false
	case r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= utf8.MaxRune:
		return true
	}
	return false
}

// cut shortens s to at most limit bytes without splitting a UTF-8
// sequence, and says how many bytes it dropped.
func cut(s string, limit int) (string, int) {
	if len(s) <= limit {
		return s, 0
	}
	i := limit
	for i > 0 && i > limit-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i], len(s) - i
}

// truncated is cut with a note at the end saying what was left out.
func truncated(s string, limit int) string {
	s, dropped := cut(s, limit)
	if dropped == 0 {
		return s
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s + fmt.Sprintf("[… %d more bytes not shown; the JSON report has them all]\n", dropped)
}

// oneLine makes s fit on one line of at most max runes: newlines are shown
// as \n, and what does not fit is replaced by "…".
func oneLine(s string, max int) string {
	s = strings.TrimRight(s, "\n")
	s = strings.NewReplacer("\r\n", `\n`, "\n", `\n`, "\r", `\r`).Replace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)
	return string(rs[:max-1]) + "…"
}

// block writes label and text: on the same line when text is one line,
// else indented below it.
func block(b *strings.Builder, indent, label, text string) {
	text = strings.TrimSuffix(text, "\n")
	if !strings.Contains(text, "\n") {
		fmt.Fprintf(b, "%s%s: %s\n", indent, label, text)
		return
	}
	fmt.Fprintf(b, "%s%s:\n", indent, label)
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString(indent + "  " + line + "\n")
	}
}

// compactJSON writes v (already JSONValue'd) on one line, HTML left as is.
func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// stepText is the readable account of one step in a JUnit <system-out>:
// a status line, then what the step produced. Failures are not repeated
// here; they are the body of the <failure> element.
func stepText(n int, st *Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] step %d %q", st.Status, n, st.Name)
	switch {
	case st.Kind != "" && st.Service != "":
		fmt.Fprintf(&b, " (%s on %s)", st.Kind, st.Service)
	case st.Kind != "":
		fmt.Fprintf(&b, " (%s)", st.Kind)
	}
	if st.Status != Skipped {
		fmt.Fprintf(&b, " in %s", millis(st.DurationMS))
	}
	if st.Pos != "" {
		fmt.Fprintf(&b, " at %s", st.Pos)
	}
	b.WriteString("\n")
	const in = "  "
	if st.Attempts > 1 {
		fmt.Fprintf(&b, "%sattempts: %d\n", in, st.Attempts)
	}
	if st.Error != "" {
		block(&b, in, "error", st.Error)
	}
	if len(st.Failures) > 0 {
		fmt.Fprintf(&b, "%sfailed expectations: %d\n", in, len(st.Failures))
	}
	if o := st.Output; o != nil {
		// Each field is cut before it is laid out, so a huge output costs
		// no more than the limit; the whole step is cut again below.
		field := func(label, s string) {
			if s != "" {
				block(&b, in, label, truncated(s, StepOutputLimit))
			}
		}
		if o.ExitCode != nil {
			fmt.Fprintf(&b, "%sexit code: %d\n", in, *o.ExitCode)
		}
		field("stdout", o.Stdout)
		field("stderr", o.Stderr)
		if o.Rows != nil {
			fmt.Fprintf(&b, "%srows (%d):\n", in, len(o.Rows))
			for i, row := range o.Rows {
				line := compactJSON(JSONValue(row))
				// Leave room for the note, which the cut of the whole
				// step below would otherwise take away.
				if b.Len()+len(line) > StepOutputLimit-256 {
					fmt.Fprintf(&b, "%s  [… %d more rows not shown; the JSON report has them all]\n", in, len(o.Rows)-i)
					break
				}
				b.WriteString(in + "  " + line + "\n")
			}
		}
		if o.RowsAffected != nil {
			fmt.Fprintf(&b, "%srows affected: %d\n", in, *o.RowsAffected)
		}
		if o.Reply != nil {
			field("reply", compactJSON(JSONValue(o.Reply)))
		}
		if o.Status != 0 {
			fmt.Fprintf(&b, "%sstatus: %d\n", in, o.Status)
		}
		if len(o.Headers) > 0 {
			fmt.Fprintf(&b, "%sheaders:\n", in)
			for _, k := range sortedKeys(o.Headers) {
				fmt.Fprintf(&b, "%s  %s: %s\n", in, k, o.Headers[k])
			}
		}
		field("body", o.Body)
	}
	if len(st.Captured) > 0 {
		fmt.Fprintf(&b, "%scaptured:\n", in)
		for _, k := range sortedKeys(st.Captured) {
			fmt.Fprintf(&b, "%s  %s = %s\n", in, k, oneLine(st.Captured[k], 200))
		}
	}
	return truncated(xmlSafe(b.String()), StepOutputLimit)
}

// failureText lists what went wrong in one step: its error and every
// expectation that did not hold, with positions, expected, got and diff.
func failureText(n int, st *Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d %q %s", n, st.Name, st.Status)
	if st.Pos != "" {
		fmt.Fprintf(&b, " at %s", st.Pos)
	}
	b.WriteString("\n")
	if st.Error != "" {
		block(&b, "  ", "error", st.Error)
	}
	for _, f := range st.Failures {
		if f == nil {
			continue
		}
		b.WriteString("  " + f.Check)
		if f.Pos != "" {
			b.WriteString(" at " + f.Pos)
		}
		b.WriteString("\n")
		block(&b, "    ", "expected", f.Expected)
		block(&b, "    ", "got", f.Got)
		if f.Diff != "" {
			block(&b, "    ", "diff", f.Diff)
		}
	}
	return b.String()
}

// failureLine is the one-line summary of a step's first problem.
func failureLine(st *Step) string {
	for _, f := range st.Failures {
		if f == nil {
			continue
		}
		return fmt.Sprintf("%s: expected %s, got %s", f.Check, oneLine(f.Expected, 80), oneLine(f.Got, 80))
	}
	if st.Error != "" {
		return oneLine(st.Error, 200)
	}
	return string(st.Status)
}

func millis(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.3fs", v/1000)
	default:
		return fmt.Sprintf("%.1fms", v)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

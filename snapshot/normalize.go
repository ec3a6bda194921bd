package snapshot

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Placeholders the built-in normalizers write.
const (
	PlaceholderTime      = "<TIME>"
	PlaceholderUUID      = "<UUID>"
	PlaceholderDuration  = "<DURATION>"
	PlaceholderContainer = "<CONTAINER>"
)

// Rule is a user-defined normalizer, a suite's normalize = [{ match,
// replace }]: every match of Match is replaced by Replace, in which $1 and
// ${name} stand for submatches as in regexp.Regexp.ReplaceAllString.
type Rule struct {
	Match   *regexp.Regexp
	Replace string
}

// Normalizer replaces the parts of an output that differ from run to run
// with placeholders, so that the output can be compared with a snapshot.
// It is safe for concurrent use. A nil *Normalizer changes nothing.
type Normalizer struct {
	literals []literal // longest first
	builtins bool
	rules    []Rule
}

type literal struct{ value, placeholder string }

// Option configures a Normalizer, and the normalizing Match does.
type Option func(*Normalizer)

// WithRules adds a suite's own rules, applied in order after the built-in
// normalizers (so a rule sees <TIME> rather than the timestamp). Rules
// without a Match are ignored.
func WithRules(rules ...Rule) Option {
	return func(n *Normalizer) {
		for _, r := range rules {
			if r.Match != nil {
				n.rules = append(n.rules, r)
			}
		}
	}
}

// WithLiteral replaces value, a string known at run time, with
// placeholder: the session ID with <SESSION>, a container ID with
// <CONTAINER>, an ephemeral host port with <PORT>. Literals are replaced
// before anything else, longest first, so that a session ID, which is a
// UUID, becomes <SESSION> and not <UUID> (and once more after the
// built-ins, for a literal that only stands alone once they are done).
//
// A literal is replaced where it stands as a whole token: where it starts
// (ends) with a letter or digit, it is not replaced when a letter or digit
// comes right before (after) it. So port 32771 is not replaced inside
// 132771, yet a session ID still is inside "cleanroom-<id>-db" or "net_<id>".
// An empty value is ignored; for the same value given twice, the last
// placeholder wins.
func WithLiteral(value, placeholder string) Option {
	return func(n *Normalizer) {
		if value == "" {
			return
		}
		n.literals = slices.DeleteFunc(n.literals, func(l literal) bool { return l.value == value })
		n.literals = append(n.literals, literal{value, placeholder})
	}
}

// WithoutBuiltins turns the built-in normalizers off, leaving literals and
// rules.
func WithoutBuiltins() Option {
	return func(n *Normalizer) { n.builtins = false }
}

// NewNormalizer returns a Normalizer that applies, in this order: the
// literals (WithLiteral), the built-in normalizers (unless
// WithoutBuiltins), the rules (WithRules).
//
// The built-in normalizers replace:
//
//   - timestamps with <TIME>: RFC 3339 and ISO 8601 ("2026-11-26T08:39:54Z",
//     "2026-11-26T08:39:54.561+01:00", "2026-11-26 08:39:54.561 UTC",
//     "2026-11-26 08:39:54+00", Go's "2026-11-26 08:39:54.5 +0000 UTC
//     m=+0.01", basic "20261126T083954Z"), "2026/11/26 08:39:54" (Go's log
//     package), "26 Nov 2026 08:39:54.776" (Redis) with an optional
//     weekday and zone ("Thu, 26 Nov 2026 08:39:54 GMT", HTTP's Date),
//     "Thu Nov 26 08:39:54 UTC 2026" (date(1)) and "Nov 26 08:39:54"
//     (syslog, ls -l without seconds), "26/Nov/2026:08:39:54 +0000"
//     (access logs). Fractions may use '.' or ','. A date alone
//     ("2026-11-26") or a time of day alone ("08:39:54") is left as it is:
//     both are as often fixed data (a SQL date or time column) as they are
//     the clock, and a rule can replace them where they are the clock. Unix
//     epoch seconds are plain integers and are left too.
//   - UUIDs of any version, in either case, with <UUID>.
//   - container IDs, 64 lowercase hex digits or their 12-digit short form,
//     with <CONTAINER>: only as a whole word, and only when the word holds
//     a letter and a digit, so "deadbeefcafe" and 123456789012 stay. Other
//     lengths (a 40-digit git hash) stay; image IDs and sha256 digests,
//     which are 64 digits too, become <CONTAINER>.
//   - Go durations with <DURATION>: "1.234s", "15ms", "2m3.5s", "850µs",
//     "1h0m0s", also "5s" and "0s", as a whole word (a minus sign before
//     one stays). Version numbers such as 15.20 have no unit and stay; the
//     price of the rule is that "1990s" becomes <DURATION> too.
//
// Ephemeral ports, the session ID and known container names differ per run
// but look like any other number or word; they are replaced only as
// literals, by a caller that knows them.
//
// The built-in normalizers are idempotent: normalizing twice gives what
// normalizing once gave. Rules may break that; it is theirs to keep.
func NewNormalizer(opts ...Option) *Normalizer {
	n := &Normalizer{builtins: true}
	for _, o := range opts {
		if o != nil {
			o(n)
		}
	}
	slices.SortStableFunc(n.literals, func(a, b literal) int { return cmp.Compare(len(b.value), len(a.value)) })
	return n
}

// String returns s with what varies replaced by placeholders.
func (n *Normalizer) String(s string) string {
	if n == nil {
		return s
	}
	s = n.replaceLiterals(s)
	if n.builtins {
		s = normalizeBuiltins(s)
		// Again, for a literal that a built-in match stuck to, as in
		// "…54Z32771": now "<TIME>32771", it stands as a token.
		s = n.replaceLiterals(s)
	}
	for _, r := range n.rules {
		s = r.Match.ReplaceAllString(s, r.Replace)
	}
	return s
}

// replaceLiterals replaces all literals in one pass, so that a shorter
// literal never matches inside the placeholder of a longer one.
func (n *Normalizer) replaceLiterals(s string) string {
	if len(n.literals) == 0 {
		return s
	}
	var b strings.Builder
	last := 0 // s[last:i] is not yet written
	for i := 0; i < len(s); {
		l, ok := n.literalAt(s, i)
		if !ok {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(l.placeholder)
		i += len(l.value)
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// literalAt returns the longest literal that stands as a token at s[i:].
func (n *Normalizer) literalAt(s string, i int) (literal, bool) {
	for _, l := range n.literals {
		if !strings.HasPrefix(s[i:], l.value) {
			continue
		}
		first, _ := utf8.DecodeRuneInString(l.value)
		lastR, _ := utf8.DecodeLastRuneInString(l.value)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(l.value):])
		if i > 0 && alnum(first) && alnum(before) {
			continue
		}
		if i+len(l.value) < len(s) && alnum(lastR) && alnum(after) {
			continue
		}
		return l, true
	}
	return literal{}, false
}

func alnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

const (
	months   = `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`
	weekdays = `(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)`
	fraction = `(?:[.,]\d+)?`
	// hhmm[:ss[.frac]]
	clock = `\d{2}:\d{2}(?::\d{2}` + fraction + `)?`
	// Z, +01:00, +0100, +01 (PostgreSQL), each optionally followed by a
	// zone name or a repeated offset as Go's time.Time.String writes them
	// ("+0000 UTC", "+0100 +0100"), or a bare UTC/GMT (PostgreSQL's logs).
	isoZone = `(?:[Zz]| ?[+-]\d{2}(?::?\d{2})?(?: [A-Z]{3,5}\b| [+-]\d{2,4}\b)?| (?:UTC|GMT)\b)?`
	// Go's monotonic clock reading, in time.Time.String.
	monotonic = `(?: m=[+-]\d+\.\d+)?`
)

var (
	timestampRE = regexp.MustCompile(strings.Join([]string{
		// ISO 8601 / RFC 3339, and Go's log package with slashes.
		`\b\d{4}(?:-\d{2}-\d{2}|/\d{2}/\d{2})[Tt ]` + clock + isoZone + monotonic,
		// ISO 8601 basic format.
		`\b\d{8}T\d{6}` + fraction + `(?:Z|[+-]\d{2}:?\d{2})?\b`,
		// Access logs.
		`\b\d{2}/` + months + `/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?`,
		// Redis, RFC 1123 (HTTP Date), RFC 2822.
		`\b(?:` + weekdays + `,? )?\d{1,2} ` + months + ` \d{4} ` + clock + `(?: (?:GMT|UTC|[+-]\d{4})\b)?`,
		// date(1), ANSIC, syslog, ls -l. A zone name counts only when a
		// year follows, so that the next word of a log line stays.
		`\b(?:` + weekdays + ` )?` + months + ` [ \d]?\d ` + clock + `(?: [A-Z]{3,5} \d{4}\b| \d{4}\b)?`,
	}, "|"))
	uuidRE      = regexp.MustCompile(`\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`)
	containerRE = regexp.MustCompile(`\b(?:[0-9a-f]{64}|[0-9a-f]{12})\b`)
	durationRE  = regexp.MustCompile(`\b(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))+\b`)
)

// normalizeBuiltins applies the built-in normalizers. Order matters: a
// timestamp holds things that look like durations, and a UUID's last group
// looks like a short container ID.
func normalizeBuiltins(s string) string {
	s = replaceLines(s, timestampRE, hasClock, func(string) string { return PlaceholderTime })
	s = replaceLines(s, uuidRE, hasHexRun(8), func(string) string { return PlaceholderUUID })
	s = replaceLines(s, containerRE, hasHexRun(12), func(m string) string {
		if strings.ContainsAny(m, "abcdef") && strings.ContainsAny(m, "0123456789") {
			return PlaceholderContainer
		}
		return m
	})
	return replaceLines(s, durationRE, hasUnit, func(string) string { return PlaceholderDuration })
}

// replaceLines replaces the matches of re, which never span lines, only in
// the lines where anchor finds what every match holds. The regular
// expressions are slow (a few MB/s for timestamps); most lines of an
// output match none of them, and a cheap scan tells.
func replaceLines(s string, re *regexp.Regexp, anchor func(string) bool, repl func(string) string) string {
	var b strings.Builder
	last := 0 // s[last:start] is not yet written
	for start := 0; start < len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		if line := s[start:end]; anchor(line) {
			if r := replaceAll(re, line, repl); r != line {
				b.WriteString(s[last:start])
				b.WriteString(r)
				last = end
			}
		}
		start = end + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// replaceAll is re.ReplaceAllStringFunc, repeated while a replaced match
// was followed by a letter or digit. A timestamp may end without a word
// boundary ("…00:00Nov 26 08:39"); once it is "<TIME>", what followed it
// starts at one and may match in turn, and normalizing must not leave that
// for a second run to find.
func replaceAll(re *regexp.Regexp, s string, repl func(string) string) string {
	for {
		idx := re.FindAllStringIndex(s, -1)
		if idx == nil {
			return s
		}
		var b strings.Builder
		last, glued := 0, false
		for _, m := range idx {
			r := repl(s[m[0]:m[1]])
			if r == s[m[0]:m[1]] {
				continue
			}
			b.WriteString(s[last:m[0]])
			b.WriteString(r)
			last = m[1]
			glued = glued || m[1] < len(s) && isWordByte(s[m[1]])
		}
		if last == 0 {
			return s
		}
		b.WriteString(s[last:])
		s = b.String()
		if !glued {
			return s
		}
	}
}

// isWordByte reports whether c is a word character for \b.
func isWordByte(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// hasClock reports whether line has "d:d" or "dTd", which every timestamp
// the built-ins know holds.
func hasClock(line string) bool {
	for i := 1; i+1 < len(line); i++ {
		if (line[i] == ':' || line[i] == 'T') && isDigit(line[i-1]) && isDigit(line[i+1]) {
			return true
		}
	}
	return false
}

// hasHexRun returns an anchor that reports whether a line has n hex
// digits in a row, as a UUID (8) and a container ID (12) have.
func hasHexRun(n int) func(string) bool {
	return func(line string) bool {
		run := 0
		for i := 0; i < len(line); i++ {
			c := line[i]
			if isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
				if run++; run >= n {
					return true
				}
			} else {
				run = 0
			}
		}
		return false
	}
}

// hasUnit reports whether line has a digit followed by the first byte of
// a duration unit (ns, us, µs, μs, ms, s, m, h).
func hasUnit(line string) bool {
	for i := 0; i+1 < len(line); i++ {
		if isDigit(line[i]) {
			switch line[i+1] {
			case 'n', 'u', 'm', 's', 'h', 0xC2, 0xCE: // µ is C2 B5, μ is CE BC
				return true
			}
		}
	}
	return false
}

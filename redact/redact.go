// Package redact keeps secrets out of everything a run writes. A Redactor
// replaces the values of secrets, and whatever user-given regular
// expressions match, with Placeholder: in text (String, Bytes) and, in
// place, in the report model (Walk). The runner applies one Redactor to
// every report object before anyone sees it and to every line it logs;
// this package only does the replacing.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Placeholder is what a secret or a pattern match is replaced with.
const Placeholder = "[REDACTED]"

// Redactor replaces secret values and pattern matches with Placeholder.
// It is safe for concurrent use. A nil *Redactor is valid and redacts
// nothing, so that code which writes text needs no nil check.
type Redactor struct {
	// secrets replaces every form of every secret in one pass over the
	// text; nil when there are no secrets.
	secrets  *strings.Replacer
	patterns []*regexp.Regexp
	// outputs recycles the lazyOutputs through which String and Bytes
	// read the replacer's result, so that text with nothing to redact
	// costs no allocation.
	outputs sync.Pool
}

// PatternError is a pattern New cannot use: it does not compile, or it
// can match the empty string.
type PatternError struct {
	Index   int // of the pattern among those given to New
	Pattern string
	Err     error
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("redact: pattern %q: %v", e.Pattern, e.Err)
}

func (e *PatternError) Unwrap() error { return e.Err }

// errMatchesEmpty is why a pattern that can match the empty string is
// refused: its empty matches would put a placeholder between characters.
var errMatchesEmpty = errors.New("it can match the empty string, which would insert " + Placeholder + " between characters")

// New returns a Redactor for the given secret values and patterns (Go
// regular expressions, of which each whole match is replaced). An invalid
// pattern, or one that can match the empty string, is a *PatternError.
//
// Empty secrets are ignored. Short ones are not: a three-letter password
// is still a password, and over-redacting a few words of output is the
// better failure than printing it. Besides its plain value, each secret is
// also replaced in the forms a program is likely to print it in: escaped
// for a URL query and for a URL path (a password in a DSN such as
// postgres://u:p%40ss@h/db), escaped inside a JSON string (with and
// without the HTML escaping of encoding/json: \" and \u003c), and base64
// encoded whole (an Authorization header).
//
// Secrets are replaced before patterns, so a pattern never sees, or
// splits, a secret. Where two different secrets overlap in the text, the
// one that starts first (the longer, if both start at the same place) is
// replaced and the rest of the other stays: strings.Replacer makes one
// pass and does not overlap its matches.
func New(secrets, patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for i, p := range patterns {
		re, err := compile(p)
		if err != nil {
			return nil, &PatternError{Index: i, Pattern: p, Err: err}
		}
		r.patterns = append(r.patterns, re)
	}
	forms := secretForms(secrets)
	if len(forms) == 0 {
		return r, nil
	}
	// The placeholder is a key that maps to itself, so that redacting text
	// twice leaves it as it was even when a short secret ("E", "ACT") is
	// part of the placeholder.
	forms = append(forms, Placeholder)
	// At each position strings.Replacer takes the first of its keys that
	// matches, in argument order: longest first, so that a secret which
	// contains another ("password" and "pass") is replaced whole.
	slices.SortFunc(forms, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	forms = slices.Compact(forms) // equal forms are now neighbours
	oldnew := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		oldnew = append(oldnew, f, Placeholder)
	}
	r.secrets = strings.NewReplacer(oldnew...)
	// A Replacer builds its lookup tables on first use: here, rather than
	// in the first String of a run.
	r.secrets.Replace("")
	return r, nil
}

// compile compiles p and refuses it if it can match the empty string.
func compile(p string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	// The same flags as regexp.Compile, so this cannot fail after it.
	tree, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if matchesEmpty(tree) {
		return nil, errMatchesEmpty
	}
	return re, nil
}

// matchesEmpty reports whether re can match the empty string somewhere.
// Asking re.MatchString("") is not enough: `\b` fails on "" but matches
// between "a" and " ". So zero-width assertions count as matching it.
func matchesEmpty(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpNoMatch, syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return false
	case syntax.OpLiteral:
		return len(re.Rune) == 0
	case syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpPlus, syntax.OpCapture:
		return matchesEmpty(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || matchesEmpty(re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !matchesEmpty(sub) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		return slices.ContainsFunc(re.Sub, matchesEmpty)
	default: // OpEmptyMatch and the zero-width assertions: ^ $ \A \z \b \B
		return true
	}
}

// secretForms returns each non-empty secret as is and in the encodings
// New documents. Forms repeat where an encoding changes nothing.
func secretForms(secrets []string) []string {
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms = append(forms,
			s,
			url.QueryEscape(s),
			url.PathEscape(s),
			jsonEscape(s, true),
			jsonEscape(s, false),
			base64.StdEncoding.EncodeToString([]byte(s)),
		)
	}
	return forms
}

// jsonEscape returns s as it appears between the quotes of a JSON string
// written by encoding/json, with or without its HTML escaping of <, > and &.
func jsonEscape(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	out := b.String()
	return out[1 : len(out)-2] // without the quotes and Encode's newline
}

// Active reports whether r has anything to redact. When it has not, every
// method returns its input unchanged.
func (r *Redactor) Active() bool {
	return r != nil && (r.secrets != nil || len(r.patterns) > 0)
}

// String returns s with every secret and every pattern match replaced by
// Placeholder. When nothing matches it returns s without allocating.
func (r *Redactor) String(s string) string {
	if !r.Active() || s == "" {
		return s
	}
	if r.secrets != nil {
		if out, changed := r.replaceSecrets(s); changed {
			s = string(out)
		}
	}
	for _, re := range r.patterns {
		// MatchString first: ReplaceAllLiteralString copies s even when
		// nothing matches.
		if re.MatchString(s) {
			s = re.ReplaceAllLiteralString(s, Placeholder)
		}
	}
	return s
}

// Bytes is String for a byte slice. It returns b itself when nothing
// matches, and otherwise a new slice: b is never modified.
func (r *Redactor) Bytes(b []byte) []byte {
	if !r.Active() || len(b) == 0 {
		return b
	}
	if r.secrets != nil {
		// The replacer reads a string: a view of b rather than a copy,
		// which would cost as much as the redaction on large output. The
		// view does not outlive the call, and nothing writes to b meanwhile.
		if out, changed := r.replaceSecrets(unsafe.String(unsafe.SliceData(b), len(b))); changed {
			b = out
		}
	}
	for _, re := range r.patterns {
		if re.Match(b) {
			b = re.ReplaceAllLiteral(b, []byte(Placeholder))
		}
	}
	return b
}

// replaceSecrets runs the secrets replacer over s. It returns changed ==
// false, and allocates nothing, when the result would be s itself.
//
// strings.Replacer.Replace always builds a new string; WriteString hands
// its output to a writer in pieces, and a lazyOutput keeps no copy of them
// as long as they repeat s.
func (r *Redactor) replaceSecrets(s string) (out []byte, changed bool) {
	o, _ := r.outputs.Get().(*lazyOutput)
	if o == nil {
		o = new(lazyOutput)
	}
	*o = lazyOutput{in: s}
	_, _ = r.secrets.WriteString(o, s) // a lazyOutput never fails
	out, changed = o.result()
	*o = lazyOutput{} // keep neither s nor out alive in the pool
	r.outputs.Put(o)
	return out, changed
}

// lazyOutput is an io.Writer that compares what it is given with in and
// only starts copying when the two differ.
type lazyOutput struct {
	in      string
	same    int  // length of the prefix of in that the output repeated
	changed bool // the output differs from in; it is in out
	out     []byte
}

func (o *lazyOutput) WriteString(s string) (int, error) {
	if !o.changed {
		if end := o.same + len(s); end <= len(o.in) && o.in[o.same:end] == s {
			o.same = end
			return len(s), nil
		}
		o.diverge()
	}
	o.out = append(o.out, s...)
	return len(s), nil
}

func (o *lazyOutput) Write(p []byte) (int, error) { return o.WriteString(string(p)) }

// diverge starts the copy: the output so far is the repeated prefix of in.
func (o *lazyOutput) diverge() {
	o.changed = true
	o.out = make([]byte, o.same, len(o.in)+len(Placeholder))
	copy(o.out, o.in)
}

func (o *lazyOutput) result() ([]byte, bool) {
	if !o.changed && o.same != len(o.in) {
		// The output stopped short of in. strings.Replacer never does
		// that, but the result must be what it wrote.
		o.diverge()
	}
	return o.out, o.changed
}

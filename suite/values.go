package suite

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/errs"
)

// problem is one validation error before it becomes an
// *errs.ValidationError.
type problem struct {
	pos Pos
	msg string
}

type problems []problem

func (ps *problems) add(pos Pos, format string, args ...any) {
	*ps = append(*ps, problem{pos: pos, msg: fmt.Sprintf(format, args...)})
}

// errors returns the problems in file order, without duplicates.
func (ps problems) errors() errs.ValidationErrors {
	sorted := slices.Clone(ps)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].pos, sorted[j].pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	var out errs.ValidationErrors
	seen := map[problem]bool{}
	for _, p := range sorted {
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, &errs.ValidationError{Pos: p.pos.String(), Message: p.msg})
	}
	return out
}

// The helpers below read one value of the tree as a Go type. On a wrong type
// they report it and return ok == false, so the caller keeps the default and
// goes on to find the next problem.

func (d *decoder) typeError(e *entry, want string) {
	d.ps.add(e.val.pos, "%q must be %s, not %s", e.key, want, e.val.typeName())
}

func (d *decoder) str(e *entry) (Field[string], bool) {
	if e.val.kind != kString {
		d.typeError(e, "a string")
		return Field[string]{}, false
	}
	return Field[string]{Value: e.val.str, Pos: e.val.pos}, true
}

// nonEmpty reads a string that must not be empty.
func (d *decoder) nonEmpty(e *entry) (Field[string], bool) {
	f, ok := d.str(e)
	if ok && strings.TrimSpace(f.Value) == "" {
		d.ps.add(f.Pos, "%q must not be empty", e.key)
		return Field[string]{}, false
	}
	return f, ok
}

// oneOf reads a string that must be one of valid.
func (d *decoder) oneOf(e *entry, valid ...string) (Field[string], bool) {
	f, ok := d.str(e)
	if ok && !slices.Contains(valid, f.Value) {
		msg := fmt.Sprintf("%q must be one of %s, not %q", e.key, strings.Join(valid, ", "), f.Value)
		if s := suggest(f.Value, valid); s != "" {
			msg += fmt.Sprintf(" — did you mean %q?", s)
		}
		d.ps.add(f.Pos, "%s", msg)
		return Field[string]{}, false
	}
	return f, ok
}

func (d *decoder) int64(e *entry) (Field[int64], bool) {
	if e.val.kind != kInt {
		d.typeError(e, "an integer")
		return Field[int64]{}, false
	}
	return Field[int64]{Value: e.val.i, Pos: e.val.pos}, true
}

// intIn reads an integer within [lo, hi].
func (d *decoder) intIn(e *entry, lo, hi int64) (Field[int], bool) {
	f, ok := d.int64(e)
	if !ok {
		return Field[int]{}, false
	}
	if f.Value < lo || f.Value > hi {
		switch {
		case hi == math.MaxInt32 && lo == 0:
			d.ps.add(f.Pos, "%q must not be negative, got %d", e.key, f.Value)
		case hi == math.MaxInt32:
			d.ps.add(f.Pos, "%q must be at least %d, got %d", e.key, lo, f.Value)
		default:
			d.ps.add(f.Pos, "%q must be between %d and %d, got %d", e.key, lo, hi, f.Value)
		}
		return Field[int]{}, false
	}
	return Field[int]{Value: int(f.Value), Pos: f.Pos}, true
}

func (d *decoder) bool(e *entry) (Field[bool], bool) {
	if e.val.kind != kBool {
		d.typeError(e, "a boolean (true or false)")
		return Field[bool]{}, false
	}
	return Field[bool]{Value: e.val.b, Pos: e.val.pos}, true
}

func (d *decoder) float(e *entry) (Field[float64], bool) {
	switch e.val.kind {
	case kFloat:
		return Field[float64]{Value: e.val.f, Pos: e.val.pos}, true
	case kInt:
		return Field[float64]{Value: float64(e.val.i), Pos: e.val.pos}, true
	}
	d.typeError(e, "a number")
	return Field[float64]{}, false
}

// duration reads a Go duration string that must be positive.
func (d *decoder) duration(e *entry) (Field[time.Duration], bool) {
	if e.val.kind != kString {
		d.ps.add(e.val.pos, "%q must be a duration string such as \"500ms\" or \"2m\", not %s", e.key, e.val.typeName())
		return Field[time.Duration]{}, false
	}
	v, err := time.ParseDuration(strings.TrimSpace(e.val.str))
	if err != nil {
		d.ps.add(e.val.pos, "%q: invalid duration %q: want a Go duration such as \"500ms\", \"30s\" or \"2m\"", e.key, e.val.str)
		return Field[time.Duration]{}, false
	}
	if v <= 0 {
		d.ps.add(e.val.pos, "%q must be a positive duration, got %q", e.key, e.val.str)
		return Field[time.Duration]{}, false
	}
	return Field[time.Duration]{Value: v, Pos: e.val.pos}, true
}

// size reads a byte count: an integer, or a string such as "256MiB".
func (d *decoder) size(e *entry) (Field[int64], bool) {
	var n int64
	switch e.val.kind {
	case kInt:
		n = e.val.i
	case kString:
		var err error
		if n, err = ParseSize(e.val.str); err != nil {
			d.ps.add(e.val.pos, "%q: %v", e.key, err)
			return Field[int64]{}, false
		}
	default:
		d.ps.add(e.val.pos, "%q must be a size such as \"256MiB\" or a number of bytes, not %s", e.key, e.val.typeName())
		return Field[int64]{}, false
	}
	if n <= 0 {
		d.ps.add(e.val.pos, "%q must be a positive size", e.key)
		return Field[int64]{}, false
	}
	return Field[int64]{Value: n, Pos: e.val.pos}, true
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

// ParseSize parses "256MiB", "1GiB", "1.5GB", "512KiB" or a plain number of
// bytes. Binary units (KiB, MiB, GiB, TiB) count 1024s, decimal ones (KB, MB,
// GB, TB) 1000s; the unit is case-insensitive.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit, such as \"256MiB\" or \"1GiB\"", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", s, m[2])
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	v := f * unit
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(v), nil
}

// regexp reads a string and compiles it as a Go regular expression.
func (d *decoder) regexp(e *entry) (Field[*regexp.Regexp], bool) {
	f, ok := d.str(e)
	if !ok {
		return Field[*regexp.Regexp]{}, false
	}
	re, err := regexp.Compile(f.Value)
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = se.Code.String()
			if se.Expr != f.Value {
				msg += " in `" + se.Expr + "`"
			}
		}
		d.ps.add(f.Pos, "%q: invalid regular expression %q: %s", e.key, f.Value, msg)
		return Field[*regexp.Regexp]{}, false
	}
	return Field[*regexp.Regexp]{Value: re, Pos: f.Pos}, true
}

// table reads a table (or an inline table).
func (d *decoder) table(e *entry) (*node, bool) {
	if e.val.kind != kTable {
		d.typeError(e, "a table")
		return nil, false
	}
	return e.val, true
}

// array reads an array whose items are all of kind want, naming them in
// the message as what.
func (d *decoder) array(e *entry, want nodeKind, what string) ([]*node, bool) {
	if e.val.kind != kArray {
		d.typeError(e, "an array of "+what)
		return nil, false
	}
	ok := true
	for _, it := range e.val.items {
		if it.kind != want {
			d.ps.add(it.pos, "%q must be an array of %s; this item is %s", e.key, what, it.typeName())
			ok = false
		}
	}
	return e.val.items, ok
}

func (d *decoder) strList(e *entry) ([]Field[string], bool) {
	items, ok := d.array(e, kString, "strings")
	if !ok {
		return nil, false
	}
	out := make([]Field[string], len(items))
	for i, it := range items {
		out[i] = Field[string]{Value: it.str, Pos: it.pos}
	}
	return out, true
}

// template reads a string and compiles it as a template in scope sc.
func (d *decoder) template(e *entry, sc *scope) (Template, bool) {
	f, ok := d.str(e)
	if !ok {
		return Template{}, false
	}
	return compileTemplate(f.Value, f.Pos, sc, d.ps), true
}

// templateList reads an array of strings; one string is accepted where
// single says it may stand for a one-item list ("stdout_contains").
func (d *decoder) templateList(e *entry, sc *scope, single bool) ([]Template, bool) {
	if single && e.val.kind == kString {
		return []Template{compileTemplate(e.val.str, e.val.pos, sc, d.ps)}, true
	}
	if e.val.kind != kArray {
		want := "an array of strings"
		if single {
			want = "a string or an array of strings"
		}
		d.typeError(e, want)
		return nil, false
	}
	items, ok := d.array(e, kString, "strings")
	if !ok {
		return nil, false
	}
	out := make([]Template, len(items))
	for i, it := range items {
		out[i] = compileTemplate(it.str, it.pos, sc, d.ps)
	}
	return out, true
}

// argv reads a command line: a non-empty array of strings.
func (d *decoder) argv(e *entry, sc *scope) ([]Template, bool) {
	if e.val.kind == kString {
		d.ps.add(e.val.pos, "%q must be an array of strings (an argv), not a string: write %s = [\"sh\", \"-c\", %q] to run it with a shell", e.key, e.key, e.val.str)
		return nil, false
	}
	out, ok := d.templateList(e, sc, false)
	if ok && len(out) == 0 {
		d.ps.add(e.val.pos, "%q must not be empty", e.key)
		return nil, false
	}
	return out, ok
}

// templateMap reads a table of strings (env, headers).
func (d *decoder) templateMap(e *entry, sc *scope) (map[string]Template, bool) {
	t, ok := d.table(e)
	if !ok {
		return nil, false
	}
	out := make(map[string]Template, len(t.entries))
	for _, kv := range t.entries {
		if kv.val.kind != kString {
			d.ps.add(kv.val.pos, "%s.%s must be a string, not %s", e.key, kv.key, kv.val.typeName())
			ok = false
			continue
		}
		out[kv.key] = compileTemplate(kv.val.str, kv.val.pos, sc, d.ps)
	}
	return out, ok
}

// literal reads any value to compare or send: strings become Templates.
func (d *decoder) literal(n *node, sc *scope) (any, bool) {
	switch n.kind {
	case kString:
		return compileTemplate(n.str, n.pos, sc, d.ps), true
	case kInt:
		return n.i, true
	case kFloat:
		return n.f, true
	case kBool:
		return n.b, true
	case kArray:
		out := make([]any, len(n.items))
		ok := true
		for i, it := range n.items {
			v, itOK := d.literal(it, sc)
			out[i], ok = v, ok && itOK
		}
		return out, ok
	case kTable:
		out := make(map[string]any, len(n.entries))
		ok := true
		for _, kv := range n.entries {
			v, kvOK := d.literal(kv.val, sc)
			out[kv.key], ok = v, ok && kvOK
		}
		return out, ok
	}
	d.ps.add(n.pos, "dates and times are not supported here: write the value as a string")
	return nil, false
}

// unknownKey reports a key that is not valid where it is, suggesting the
// nearest valid one.
func (d *decoder) unknownKey(e *entry, valid []string) {
	if s := suggest(e.key, valid); s != "" {
		d.ps.add(e.keyPos, "unknown key %q — did you mean %q?", e.key, s)
		return
	}
	d.ps.add(e.keyPos, "unknown key %q — valid here: %s", e.key, strings.Join(valid, ", "))
}

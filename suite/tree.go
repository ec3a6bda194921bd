package suite

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Pos is where a value was written: file, line and column, both 1-based
// (columns count bytes). The zero Pos means "not written in the file", which
// is how a model field tells a default from a value the user gave.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as "file:line:col", the form editors and CI
// annotations understand.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsValid reports whether the position points into a file.
func (p Pos) IsValid() bool { return p.Line > 0 }

// The TOML document is first decoded by go-toml's full decoder, which checks
// everything TOML itself forbids (duplicate keys, redefined tables, bad
// escapes, impossible dates) and reports it with a position. Only a valid
// document is then walked again with go-toml's unstable parser to build a
// tree that remembers where every key and value was written: the decoder
// into Go values forgets positions, and every error cleanroom reports later
// must point at a line.

type nodeKind int

const (
	kTable nodeKind = iota
	kArray
	kString
	kInt
	kFloat
	kBool
	kDateTime
)

// node is one TOML value with its position.
type node struct {
	kind nodeKind
	pos  Pos

	str string
	i   int64
	f   float64
	b   bool

	// tables
	entries []*entry // in the order they were written
	byKey   map[string]*entry
	// dotted: the table was created implicitly by a dotted key (a.b = 1),
	// which matters where keys are JSON paths and must be quoted.
	dotted bool
	// header: defined by a [table] or [[array]] header; a later header may
	// reopen an implicit table, never a defined one (go-toml enforces it).
	header bool

	// arrays
	items []*node
	// tables: an array of tables written with [[headers]]
	tables bool
}

// entry is a key of a table with its value.
type entry struct {
	key    string
	keyPos Pos
	// dotted: the key was written as part of a dotted key, "a.b = 1"
	dotted bool
	val    *node
}

func (n *node) get(key string) *entry {
	if n == nil || n.byKey == nil {
		return nil
	}
	return n.byKey[key]
}

func (n *node) set(e *entry) {
	if n.byKey == nil {
		n.byKey = map[string]*entry{}
	}
	n.entries = append(n.entries, e)
	n.byKey[e.key] = e
}

// typeName names the kind of a value for error messages.
func (n *node) typeName() string {
	switch n.kind {
	case kTable:
		return "a table"
	case kArray:
		return "an array"
	case kString:
		return "a string"
	case kInt:
		return "an integer"
	case kFloat:
		return "a float"
	case kBool:
		return "a boolean"
	case kDateTime:
		return "a date/time"
	}
	return "a value"
}

// parseTree decodes src into a positioned tree. A TOML error is returned as
// a positioned *ValidationError (through errorList).
func parseTree(file string, src []byte) (*node, *problem) {
	var check map[string]any
	if err := toml.Unmarshal(src, &check); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, &problem{pos: Pos{File: file, Line: row, Col: col}, msg: "invalid TOML: " + strings.TrimPrefix(de.Error(), "toml: ")}
		}
		return nil, &problem{pos: Pos{File: file, Line: 1, Col: 1}, msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
	}
	b := &treeBuilder{file: file, src: src, lines: lineStarts(src)}
	root := &node{kind: kTable, pos: Pos{File: file, Line: 1, Col: 1}}
	cur := root
	var p unstable.Parser
	p.Reset(src)
	for p.NextExpression() {
		expr := p.Expression()
		var err error
		switch expr.Kind {
		case unstable.KeyValue:
			err = b.keyValue(cur, expr)
		case unstable.Table:
			cur, err = b.header(root, expr, false)
		case unstable.ArrayTable:
			cur, err = b.header(root, expr, true)
		}
		if err != nil {
			// The full decoder accepted the document, so this is a
			// disagreement between the two go-toml parsers.
			return nil, &problem{pos: Pos{File: file, Line: 1, Col: 1}, msg: "invalid TOML: " + err.Error()}
		}
	}
	if err := p.Error(); err != nil {
		pos := Pos{File: file, Line: 1, Col: 1}
		var pe *unstable.ParserError
		if errors.As(err, &pe) && len(pe.Highlight) > 0 {
			// The highlight is a slice of src: its offset is what its
			// capacity lacks.
			pos = b.pos(cap(src) - cap(pe.Highlight))
		}
		return nil, &problem{pos: pos, msg: "invalid TOML: " + err.Error()}
	}
	return root, nil
}

type treeBuilder struct {
	file  string
	src   []byte
	lines []int // offset at which each line starts
}

func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

func (b *treeBuilder) pos(offset int) Pos {
	offset = max(0, min(offset, len(b.src)))
	line := sort.Search(len(b.lines), func(i int) bool { return b.lines[i] > offset }) - 1
	line = max(line, 0)
	return Pos{File: b.file, Line: line + 1, Col: offset - b.lines[line] + 1}
}

// keyParts returns the parts of a (possibly dotted) key with their offsets.
func keyParts(it unstable.Iterator) (parts []string, offsets []int, ends []int) {
	for it.Next() {
		k := it.Node()
		parts = append(parts, string(k.Data))
		offsets = append(offsets, int(k.Raw.Offset))
		ends = append(ends, int(k.Raw.Offset+k.Raw.Length))
	}
	return parts, offsets, ends
}

// header opens the table of a [a.b] or [[a.b]] header and returns it.
func (b *treeBuilder) header(root *node, expr *unstable.Node, array bool) (*node, error) {
	parts, offs, _ := keyParts(expr.Key())
	if len(parts) == 0 {
		return nil, errors.New("table header without a key")
	}
	// The table's own position is its opening bracket.
	start := offs[0]
	for start > 0 && (b.src[start-1] == '[' || b.src[start-1] == ' ' || b.src[start-1] == '\t') {
		start--
	}
	hpos := b.pos(start)
	t := root
	for i, part := range parts {
		last := i == len(parts)-1
		kpos := b.pos(offs[i])
		e := t.get(part)
		switch {
		case e == nil && last && array:
			arr := &node{kind: kArray, pos: hpos, tables: true}
			t.set(&entry{key: part, keyPos: kpos, val: arr})
			e = t.get(part)
		case e == nil:
			npos := kpos
			if last {
				npos = hpos
			}
			t.set(&entry{key: part, keyPos: kpos, val: &node{kind: kTable, pos: npos}})
			e = t.get(part)
		}
		v := e.val
		if last && array {
			if v.kind != kArray {
				return nil, fmt.Errorf("%s is not an array of tables", part)
			}
			tbl := &node{kind: kTable, pos: hpos, header: true}
			v.items = append(v.items, tbl)
			return tbl, nil
		}
		if v.kind == kArray && len(v.items) > 0 {
			v = v.items[len(v.items)-1]
		}
		if v.kind != kTable {
			return nil, fmt.Errorf("%s is not a table", part)
		}
		if last {
			v.header = true
			v.dotted = false
			v.pos = hpos
		}
		t = v
	}
	return t, nil
}

// keyValue adds "a.b = value" to table t.
func (b *treeBuilder) keyValue(t *node, expr *unstable.Node) error {
	parts, offs, ends := keyParts(expr.Key())
	if len(parts) == 0 {
		return errors.New("key/value without a key")
	}
	for i, part := range parts[:len(parts)-1] {
		e := t.get(part)
		if e == nil {
			e = &entry{key: part, keyPos: b.pos(offs[i]), dotted: true, val: &node{kind: kTable, pos: b.pos(offs[i]), dotted: true}}
			t.set(e)
		}
		if e.val.kind != kTable {
			return fmt.Errorf("%s is not a table", part)
		}
		t = e.val
	}
	last := len(parts) - 1
	if t.get(parts[last]) != nil {
		return fmt.Errorf("key %s is already defined", parts[last])
	}
	// The value starts after the key, blanks, '=' and blanks.
	start := b.skip(ends[last], " \t")
	if start < len(b.src) && b.src[start] == '=' {
		start = b.skip(start+1, " \t")
	}
	v, _, err := b.value(expr.Value(), start)
	if err != nil {
		return err
	}
	t.set(&entry{key: parts[last], keyPos: b.pos(offs[last]), dotted: len(parts) > 1, val: v})
	return nil
}

// skip returns the first offset from i whose byte is not in set.
func (b *treeBuilder) skip(i int, set string) int {
	for i < len(b.src) && strings.IndexByte(set, b.src[i]) >= 0 {
		i++
	}
	return i
}

// skipFiller skips blanks, newlines, comments and (when commas) commas: what
// may separate the elements of arrays and inline tables.
func (b *treeBuilder) skipFiller(i int, commas bool) int {
	for i < len(b.src) {
		switch c := b.src[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == ',' && commas:
			i++
		case c == '#':
			for i < len(b.src) && b.src[i] != '\n' {
				i++
			}
		default:
			return i
		}
	}
	return i
}

// value converts a value node that starts at offset start (arrays carry no
// range of their own in go-toml's AST, so the caller works it out) and
// returns it with the offset just past its end.
func (b *treeBuilder) value(n *unstable.Node, start int) (*node, int, error) {
	if n == nil || !n.Valid() {
		return nil, start, errors.New("missing value")
	}
	if n.Raw.Length > 0 || n.Kind != unstable.Array {
		start = int(n.Raw.Offset)
	}
	v := &node{pos: b.pos(start)}
	end := int(n.Raw.Offset + n.Raw.Length)
	switch n.Kind {
	case unstable.String:
		v.kind, v.str = kString, string(n.Data)
	case unstable.Bool:
		v.kind, v.b = kBool, string(n.Data) == "true"
	case unstable.Integer:
		i, err := parseInt(string(n.Data))
		if err != nil {
			return nil, end, err
		}
		v.kind, v.i = kInt, i
	case unstable.Float:
		f, err := parseFloat(string(n.Data))
		if err != nil {
			return nil, end, err
		}
		v.kind, v.f = kFloat, f
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		v.kind, v.str = kDateTime, string(n.Data)
	case unstable.Array:
		v.kind = kArray
		at := b.skipFiller(start+1, false)
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			item, e, err := b.value(c, at)
			if err != nil {
				return nil, e, err
			}
			v.items = append(v.items, item)
			at = b.skipFiller(e, true)
		}
		end = at + 1 // past ']'
	case unstable.InlineTable:
		v.kind = kTable
		at := start + 1
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind != unstable.KeyValue {
				continue
			}
			if err := b.keyValue(v, c); err != nil {
				return nil, at, err
			}
			at = int(c.Raw.Offset + c.Raw.Length)
		}
		end = b.skipFiller(at, true) + 1 // past '}'
	default:
		return nil, end, fmt.Errorf("unexpected %s", n.Kind)
	}
	return v, end, nil
}

// parseInt reads a TOML integer: decimal with an optional sign and
// underscores, or 0x, 0o, 0b.
func parseInt(s string) (int64, error) {
	return strconv.ParseInt(s, 0, 64)
}

func parseFloat(s string) (float64, error) {
	return strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
}

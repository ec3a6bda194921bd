package redact

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Walk redacts, in place, every string reachable from ptr: exported struct
// fields, elements of slices and arrays, map keys and values, and what
// pointers and interfaces hold, nested to any depth; []byte too. It is
// meant for the report model, whose Output.Rows and Output.Reply hold
// decoded values and whose Headers and Captured are maps.
//
// Unexported fields are skipped, except for the exported fields of an
// embedded struct, which encoding/json writes as the outer struct's own.
// Walk changes everything it reaches, data shared with other structures
// included. A value reached twice (a cycle, or two pointers to it) is
// walked once.
//
// ptr must be a pointer, usually to a struct; Walk panics otherwise, since
// a struct passed by value cannot be changed and quietly redacting nothing
// would leave the secrets where they are.
func (r *Redactor) Walk(ptr any) {
	v := reflect.ValueOf(ptr)
	if v.Kind() != reflect.Pointer {
		panic(fmt.Sprintf("redact: Walk needs a pointer, got %T", ptr))
	}
	if !r.Active() {
		return
	}
	w := walker{r: r, seen: map[ref]bool{}}
	w.walk(v)
}

// ref identifies a pointer, slice or map, so that one that contains itself
// is not followed forever.
type ref struct {
	ptr uintptr
	len int // of a slice: s[:1] starts where s does but has fewer elements
	typ reflect.Type
}

func refOf(v reflect.Value) ref {
	r := ref{ptr: v.Pointer(), typ: v.Type()}
	if v.Kind() == reflect.Slice {
		r.len = v.Len()
	}
	return r
}

// walker does the redacting of Walk. seen holds the pointers, slices and
// maps it has walked.
type walker struct {
	r    *Redactor
	seen map[ref]bool
}

// first reports whether v is met for the first time, and marks it met.
func (w *walker) first(v reflect.Value) bool {
	k := refOf(v)
	if w.seen[k] {
		return false
	}
	w.seen[k] = true
	return true
}

// walk redacts v in place and reports whether v's own value changed. A
// pointer, slice or map whose elements changed has not: it points to the
// same data, which changed where it is.
func (w *walker) walk(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() && w.first(v) {
			w.walk(v.Elem())
		}
	case reflect.Struct:
		changed := false
		t := v.Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() || f.Anonymous {
				changed = w.walk(v.Field(i)) || changed
			}
		}
		return changed
	case reflect.String:
		// CanSet is false for what is reached through an unexported
		// embedded field that is not a struct; encoding/json skips those.
		if !v.CanSet() {
			return false
		}
		s := v.String()
		if red := w.r.String(s); red != s {
			v.SetString(red)
			return true
		}
	case reflect.Slice:
		switch {
		case v.Len() == 0:
		case v.Type().Elem().Kind() == reflect.Uint8:
			if !v.CanSet() {
				return false
			}
			b := v.Bytes()
			if red := w.r.Bytes(b); !same(red, b) {
				v.SetBytes(red)
				return true
			}
		case w.first(v):
			for i := range v.Len() {
				w.walk(v.Index(i))
			}
		}
	case reflect.Array:
		changed := false
		for i := range v.Len() {
			changed = w.walk(v.Index(i)) || changed
		}
		return changed
	case reflect.Map:
		if v.Len() > 0 && v.CanInterface() && w.first(v) {
			w.walkMap(v)
		}
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return false
		}
		// What an interface holds cannot be changed where it is: redact a
		// copy and put it back if it changed.
		e := v.Elem()
		tmp := reflect.New(e.Type()).Elem()
		tmp.Set(e)
		if w.walk(tmp) {
			v.Set(tmp)
			return true
		}
	}
	return false
}

// walkMap redacts the keys and values of m. Both are read as copies, so
// each is redacted as a copy. When any changed, m is emptied and filled
// again rather than updated, because an entry whose key is NaN can be
// neither found nor deleted.
func (w *walker) walkMap(m reflect.Value) {
	entries := make([]entry, 0, m.Len())
	changed := false
	for it := m.MapRange(); it.Next(); {
		old := it.Key()
		key := reflect.New(old.Type()).Elem()
		key.Set(old)
		moved := w.walk(key)
		val := reflect.New(m.Type().Elem()).Elem()
		val.Set(it.Value())
		valChanged := w.walk(val)
		entries = append(entries, entry{old: old, key: key, val: val, moved: moved})
		changed = changed || moved || valChanged
	}
	if changed {
		m.Clear()
		putEntries(m, entries)
	}
}

// entry is a map entry after redaction; moved when its key changed.
type entry struct {
	old, key, val reflect.Value
	moved         bool
}

// putEntries stores entries in m: first those whose key is the same, then
// the others in the order of their old keys, each under its redacted key.
// Two keys can redact to the same text ("token-<secret1>" and
// "token-<secret2>"), and neither value may be lost, so a redacted key
// already taken becomes "key (2)", "key (3)"… in that order.
func putEntries(m reflect.Value, entries []entry) {
	var moved []entry
	for _, e := range entries {
		if e.moved {
			moved = append(moved, e)
		} else {
			m.SetMapIndex(e.key, e.val)
		}
	}
	slices.SortStableFunc(moved, func(a, b entry) int {
		return strings.Compare(keyText(a.old), keyText(b.old))
	})
	for _, e := range moved {
		k := e.key
		for n := 2; m.MapIndex(k).IsValid(); n++ {
			next, ok := numbered(e.key, n)
			if !ok {
				break // not a string: the later entry wins
			}
			k = next
		}
		m.SetMapIndex(k, e.val)
	}
}

// keyText is the text of a map key that is a string, or an interface
// holding one; "" for other keys.
func keyText(k reflect.Value) string {
	if k.Kind() == reflect.Interface && !k.IsNil() {
		k = k.Elem()
	}
	if k.Kind() == reflect.String {
		return k.String()
	}
	return ""
}

// numbered returns the string key k as "k (n)", of k's type.
func numbered(k reflect.Value, n int) (reflect.Value, bool) {
	s := k
	if s.Kind() == reflect.Interface && !s.IsNil() {
		s = s.Elem()
	}
	if s.Kind() != reflect.String {
		return reflect.Value{}, false
	}
	ns := reflect.New(s.Type()).Elem()
	ns.SetString(fmt.Sprintf("%s (%d)", s.String(), n))
	out := reflect.New(k.Type()).Elem()
	out.Set(ns)
	return out, true
}

// same reports whether a and b are the same slice, as Bytes returns its
// argument when nothing changed.
func same(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

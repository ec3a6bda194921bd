package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// DirName is the directory, beside a suite file or in a Go package, that
// holds snapshot files.
const DirName = "__snapshots__"

// Ext is the file name extension of snapshot files.
const Ext = ".snap"

// The first line of a file tells what wrote it; Prune keys on it (see the
// package doc), so it must stay stable.
const (
	signature   = "# cleanroom snapshots"
	suiteHeader = signature + `: golden outputs of a suite's steps, one "=== name" entry each.
# Review changes like code. Update: cleanroom run --update-snapshots (or CLEANROOM_UPDATE_SNAPSHOTS=1).
# Format: go doc github.com/cleanroomhq/cleanroom/snapshot
`
	goTestSignature = signature + " (go test)"
	goTestHeader    = goTestSignature + `: golden outputs of snapshot.Match, one "=== name" entry each.
# Review changes like code. Update: CLEANROOM_UPDATE_SNAPSHOTS=1 go test ./...
# Format: go doc github.com/cleanroomhq/cleanroom/snapshot
`
)

// Markers of the file format (see the package doc).
const (
	headerPrefix = "=== "
	linePrefix   = "|"
	noEOLMarker  = `\ no newline at end`
)

// maxBase bounds the length of a snapshot file's base name: most file
// systems refuse names longer than 255 bytes.
const maxBase = 200

// PathFor returns the snapshot file of the suite named suiteName that is
// defined in suiteFile: suiteFile's directory + "__snapshots__/" + the
// suite name made safe as a file name + ".snap". ASCII letters, digits,
// '-', '_' and '.' (except a leading one, which would hide the file) are
// kept; other bytes are written as %XX, so that two suite names never share
// a file ("user api" is user%20api.snap). An empty name is "%"; a name
// whose safe form is longer than 200 bytes is cut and ends in a hash of the
// whole.
func PathFor(suiteFile, suiteName string) string {
	return filepath.Join(filepath.Dir(suiteFile), DirName, fileBase(suiteName)+Ext)
}

func fileBase(name string) string {
	if name == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	s := b.String()
	if len(s) > maxBase {
		sum := sha256.Sum256([]byte(name))
		s = s[:maxBase-17] + "-" + hex.EncodeToString(sum[:8])
	}
	return s
}

// File is one snapshot file: a set of named entries, read by Open and
// written back by Save. It is safe for concurrent use.
type File struct {
	path string

	mu      sync.Mutex
	entries map[string]string
	onDisk  bool // the file existed when opened or was written since
	dirty   bool // entries differ from what is on disk
	goTest  bool // written by Match: its header says so and Prune skips it
}

// FormatError is a snapshot file that cannot be read: the line at fault
// and why.
type FormatError struct {
	Path string
	Line int // 1-based
	Msg  string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// Open reads the snapshot file at path. A file that does not exist is an
// empty File, which Save creates once it has entries. A file that is not in
// the format of the package doc is a *FormatError.
func Open(path string) (*File, error) {
	f := &File{path: path, entries: map[string]string{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: read %s: %w", path, err)
	}
	f.onDisk = true
	f.goTest = strings.HasPrefix(firstLine(data), goTestSignature)
	if err := parse(path, string(data), f.entries); err != nil {
		return nil, err
	}
	return f, nil
}

// openGoTest opens a file that Match writes, so that a new one gets the
// go test header.
func openGoTest(path string) (*File, error) {
	f, err := Open(path)
	if err == nil && !f.onDisk {
		f.goTest = true
	}
	return f, err
}

func firstLine(data []byte) string {
	s := string(data)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, "\r")
}

// Path is the file's path, as given to Open.
func (f *File) Path() string { return f.path }

// Get returns the entry name and whether there is one.
func (f *File) Get(name string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.entries[name]
	return v, ok
}

// Set stores value as entry name, replacing what was there.
func (f *File) Set(name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.entries[name]; ok && old == value {
		return
	}
	f.entries[name] = value
	f.dirty = true
}

// Delete removes entry name, if there is one.
func (f *File) Delete(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.entries[name]; ok {
		delete(f.entries, name)
		f.dirty = true
	}
}

// Names returns the names of the entries, sorted.
func (f *File) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.entries))
}

// Save writes the entries back when they changed since Open or the last
// Save. It writes a temporary file beside the target and renames it, so
// that a reader — or a crash — never sees half a file, and creates the
// directory when needed. A file left with no entries is removed, and so is
// its __snapshots__ directory once that is empty.
func (f *File) Save() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirty {
		return nil
	}
	if len(f.entries) == 0 {
		if err := removeFile(f.path); err != nil {
			return err
		}
		f.onDisk, f.dirty = false, false
		return nil
	}
	header := suiteHeader
	if f.goTest {
		header = goTestHeader
	}
	if err := writeAtomic(f.path, encode(header, f.entries)); err != nil {
		return err
	}
	f.onDisk, f.dirty = true, false
	return nil
}

// removeFile removes a snapshot file that has no entries left, and its
// directory when that is an empty __snapshots__.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("snapshot: remove %s: %w", path, err)
	}
	if dir := filepath.Dir(path); filepath.Base(dir) == DirName {
		// Fails, as it should, while other files remain.
		_ = os.Remove(dir)
	}
	return nil
}

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = fmt.Errorf("snapshot: write %s: %w", path, err)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// encode renders entries in the format of the package doc.
func encode(header string, entries map[string]string) []byte {
	var b strings.Builder
	b.WriteString(header)
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		b.WriteString("\n" + headerPrefix + displayName(name) + "\n")
		content := entries[name]
		for content != "" {
			line, rest, eol := strings.Cut(content, "\n")
			content = rest
			switch {
			case !plainLine(line):
				b.WriteString(strconv.Quote(line))
			case line == "":
				b.WriteString(linePrefix)
			default:
				b.WriteString(linePrefix + " " + line)
			}
			b.WriteByte('\n')
			if !eol {
				b.WriteString(noEOLMarker + "\n")
			}
		}
	}
	return []byte(b.String())
}

// plainLine reports whether line can be written as "| line": everything in
// it is visible and survives editors and checkouts.
func plainLine(line string) bool {
	if !utf8.ValidString(line) || strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
		return false
	}
	for _, r := range line {
		if r != '\t' && !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// displayName is name as a header shows it: quoted when it holds what a
// line of output could not.
func displayName(name string) string {
	if plainName(name) {
		return name
	}
	return strconv.Quote(name)
}

// plainName reports whether name can follow "=== " as it is.
func plainName(name string) bool {
	if name == "" || name[0] == '"' || name[0] == ' ' || name[len(name)-1] == ' ' || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// parse reads the format of the package doc into entries.
func parse(path, data string, entries map[string]string) error {
	fail := func(line int, format string, args ...any) error {
		return &FormatError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	var (
		name    string
		content strings.Builder
		inEntry bool // content lines may follow
		noEOL   bool // the current entry ended with the marker
		lines   int  // content lines of the current entry
		seen    = map[string]int{}
	)
	flush := func() {
		s := content.String()
		if noEOL {
			s = strings.TrimSuffix(s, "\n")
		}
		entries[name] = s
	}
	data = strings.TrimSuffix(data, "\n")
	started := false
	for i, line := range strings.Split(data, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			inEntry = false
		case strings.HasPrefix(line, headerPrefix):
			if started {
				flush()
			}
			raw := line[len(headerPrefix):]
			nm := raw
			if strings.HasPrefix(raw, `"`) {
				var err error
				if nm, err = strconv.Unquote(raw); err != nil {
					return fail(n, "bad quoted name %s: %v", raw, err)
				}
			}
			if first, dup := seen[nm]; dup {
				return fail(n, "entry %q again (first at line %d)", nm, first)
			}
			seen[nm] = n
			name, started, inEntry, noEOL, lines = nm, true, true, false, 0
			content.Reset()
		case line == noEOLMarker:
			if !inEntry || lines == 0 || noEOL {
				return fail(n, "%q must follow a content line", noEOLMarker)
			}
			noEOL = true
		case line == linePrefix || strings.HasPrefix(line, linePrefix+" ") || strings.HasPrefix(line, `"`):
			if !inEntry {
				if started {
					return fail(n, "content line after a blank or comment line; content lines follow their \"=== name\" line without a gap")
				}
				return fail(n, "content line before the first \"=== name\" line")
			}
			if noEOL {
				return fail(n, "content line after %q", noEOLMarker)
			}
			text := strings.TrimPrefix(strings.TrimPrefix(line, linePrefix), " ")
			if strings.HasPrefix(line, `"`) {
				var err error
				if text, err = strconv.Unquote(line); err != nil {
					return fail(n, "bad quoted line %s: %v", truncate(line, 40), err)
				}
			}
			content.WriteString(text)
			content.WriteByte('\n')
			lines++
		default:
			return fail(n, "unexpected line %q: want \"=== name\", \"| text\", a quoted \"text\", %q, a comment (#) or a blank line", truncate(line, 40), noEOLMarker)
		}
	}
	if started {
		flush()
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

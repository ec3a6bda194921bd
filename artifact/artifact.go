// Package artifact is a run's output folder: what a failed test leaves
// behind for the person who reads it — reports, service logs, each step's
// output, files copied out of containers — with an index.json that lists
// them all.
//
// Writers redact what they write (the runner does, with the run's
// secrets); WithRedact makes the folder redact everything once more.
package artifact

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// RunsDir is where runs leave their folders by default, relative to the
// working directory.
const RunsDir = ".cleanroom/runs"

// IndexName is the file that lists a folder's artifacts.
const IndexName = "index.json"

// Entry is one file of the folder, as index.json lists it.
type Entry struct {
	Path     string `json:"path"` // relative to the folder, with forward slashes
	Kind     string `json:"kind"` // report, audit, trace, service-log, step-output, file, coverage
	Suite    string `json:"suite,omitempty"`
	Scenario string `json:"scenario,omitempty"`
	Step     string `json:"step,omitempty"`
	Service  string `json:"service,omitempty"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
}

// Dir is a run's output folder. It is safe for concurrent use: suites run
// in parallel write into it.
type Dir struct {
	root   string
	redact func(string) string

	mu      sync.Mutex
	entries map[string]Entry
}

// Option configures New.
type Option func(*Dir)

// WithRedact passes everything written through redact first.
func WithRedact(redact func(string) string) Option { return func(d *Dir) { d.redact = redact } }

// New creates the folder at root, or, when root is "", a new one under
// RunsDir named by the time and a random suffix
// (".cleanroom/runs/20261126T101531Z-3fa2b9c1").
func New(root string, opts ...Option) (*Dir, error) {
	if root == "" {
		var id [4]byte
		_, _ = rand.Read(id[:])
		root = filepath.Join(RunsDir, time.Now().UTC().Format("20060102T150405Z")+"-"+hex.EncodeToString(id[:]))
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("artifact: output folder: %w", err)
	}
	d := &Dir{root: root, entries: map[string]Entry{}}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// Root is the folder's path.
func (d *Dir) Root() string { return d.root }

// Path is where rel lies in the folder.
func (d *Dir) Path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }

// Write stores data at rel (a slash-separated path inside the folder, made
// of safe names: see Name), redacted, and lists it in the index under e's
// kind and labels. It returns rel.
func (d *Dir) Write(rel string, data []byte, e Entry) (string, error) {
	if d.redact != nil {
		data = []byte(d.redact(string(data)))
	}
	path := d.Path(rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("artifact: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", fmt.Errorf("artifact: %w", err)
	}
	d.add(rel, int64(len(data)), sha256.Sum256(data), e)
	return rel, nil
}

// Add lists a file something else wrote into the folder (a report, the
// trace file): its size and digest are read from disk.
func (d *Dir) Add(rel string, e Entry) error {
	data, err := os.ReadFile(d.Path(rel))
	if err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	d.add(rel, int64(len(data)), sha256.Sum256(data), e)
	return nil
}

func (d *Dir) add(rel string, n int64, sum [32]byte, e Entry) {
	e.Path, e.Bytes, e.SHA256 = rel, n, hex.EncodeToString(sum[:])
	d.mu.Lock()
	d.entries[rel] = e
	d.mu.Unlock()
}

// Entries lists what the folder holds, by path.
func (d *Dir) Entries() []Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Entry, 0, len(d.entries))
	for _, e := range d.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// WriteIndex writes index.json: every entry, sorted by path.
func (d *Dir) WriteIndex() error {
	b, err := json.MarshalIndent(struct {
		Artifacts []Entry `json:"artifacts"`
	}{d.Entries()}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(d.Path(IndexName), append(b, '\n'), 0o644)
}

// Name turns a suite, scenario, step or service name into one path
// element: letters, digits, '.', '-' and '_' kept, anything else '_', at
// most 64 bytes.
func Name(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	out := strings.Trim(b.String(), ".")
	if out == "" {
		return "_"
	}
	return out
}

// Prune removes the oldest run folders under runs, keeping the newest
// keep. Folder names start with their UTC time, so names sort by age; only
// folders holding an index.json are counted, so a folder that is not a
// run's is never touched. It returns the folders removed.
func Prune(runs string, keep int) ([]string, error) {
	list, err := os.ReadDir(runs)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	var dirs []string
	for _, e := range list {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(runs, e.Name(), IndexName)); err == nil {
			dirs = append(dirs, e.Name())
		}
	}
	slices.Sort(dirs)
	var removed []string
	for len(dirs) > max(keep, 0) {
		p := filepath.Join(runs, dirs[0])
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("artifact: %w", err)
		}
		removed = append(removed, p)
		dirs = dirs[1:]
	}
	return removed, nil
}

// Package config loads project-wide settings: an optional cleanroom.toml at
// the project root, overridden by CLEANROOM_* environment variables, which
// callers override in turn with their own options or flags.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/suite"
)

// FileName is the project settings file, looked up from the working
// directory upwards.
const FileName = "cleanroom.toml"

// Environment variables read by Load.
const (
	EnvImageMap = "CLEANROOM_IMAGE_MAP" // "from=to,from2=to2"
	EnvPull     = "CLEANROOM_PULL"      // missing | never | always
	EnvConfig   = "CLEANROOM_CONFIG"    // explicit path of cleanroom.toml; "" searches
	EnvBackend  = "CLEANROOM_BACKEND"   // docker | local | auto
)

// Backends are the names the backend setting takes; "auto" (the default)
// picks Docker when an engine answers and local otherwise.
var Backends = []string{"docker", "local", "auto"}

// Project is the merged project configuration.
type Project struct {
	Path   string            // the file it came from, "" when none
	Images map[string]string // image reference → replacement
	Pull   backend.PullPolicy
	// Backend is "docker", "local" or "auto"; "" means auto.
	Backend string
	// Policy is the project's [policy]: the defaults under every suite's,
	// and the compliance rules every suite must meet. nil when not given.
	Policy *suite.Policy
}

type fileFormat struct {
	Backend string            `toml:"backend"`
	Images  map[string]string `toml:"images"`
	Docker  struct {
		Pull string `toml:"pull"`
	} `toml:"docker"`
	// Sections owned by other parts of cleanroom; accepted here so that a
	// project file using them loads.
	Report map[string]any `toml:"report"`
	Policy map[string]any `toml:"policy"`
}

// Load finds cleanroom.toml from dir upwards (or at $CLEANROOM_CONFIG) and
// applies the environment on top.
func Load(dir string) (*Project, error) {
	p := &Project{Images: map[string]string{}, Pull: backend.PullMissing}
	path := os.Getenv(EnvConfig)
	if path == "" {
		path = find(dir)
	}
	if path != "" {
		if err := p.loadFile(path); err != nil {
			return nil, err
		}
	}
	if v := os.Getenv(EnvImageMap); v != "" {
		m, err := ParseImageMap(v)
		if err != nil {
			return nil, &errs.ValidationError{Pos: "$" + EnvImageMap, Message: err.Error()}
		}
		for k, to := range m {
			p.Images[k] = to
		}
	}
	if v := os.Getenv(EnvBackend); v != "" {
		if err := checkBackend(v); err != nil {
			return nil, &errs.ValidationError{Pos: "$" + EnvBackend, Message: err.Error()}
		}
		p.Backend = v
	}
	if v := os.Getenv(EnvPull); v != "" {
		pol, err := ParsePull(v)
		if err != nil {
			return nil, &errs.ValidationError{Pos: "$" + EnvPull, Message: err.Error()}
		}
		p.Pull = pol
	}
	return p, nil
}

func (p *Project) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("project settings: %w", err)
	}
	var f fileFormat
	dec := toml.NewDecoder(strings.NewReader(string(b))).DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return &errs.ValidationError{Pos: tomlPos(path, err), Message: tomlMessage(err)}
	}
	p.Path = path
	if f.Policy != nil {
		if p.Policy, err = suite.ParseProjectPolicy(path, b); err != nil {
			return err
		}
	}
	for k, v := range f.Images {
		p.Images[k] = v
	}
	if f.Backend != "" {
		if err := checkBackend(f.Backend); err != nil {
			return &errs.ValidationError{Pos: valuePos(path, b, "", "backend"), Field: "backend", Message: err.Error()}
		}
		p.Backend = f.Backend
	}
	if f.Docker.Pull != "" {
		pol, err := ParsePull(f.Docker.Pull)
		if err != nil {
			return &errs.ValidationError{Pos: valuePos(path, b, "docker", "pull"), Field: "docker.pull", Message: err.Error()}
		}
		p.Pull = pol
	}
	return nil
}

// valuePos finds where key's value is written in section ("" for the top
// level) of a file that decoded without error, as "path:line:col"; just
// path if it cannot tell (a dotted key, an inline table).
func valuePos(path string, b []byte, section, key string) string {
	current := ""
	for i, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			current = strings.Trim(t, "[] \t")
			continue
		}
		k, _, ok := strings.Cut(t, "=")
		if !ok || current != section || strings.Trim(strings.TrimSpace(k), `"'`) != key {
			continue
		}
		eq := strings.Index(line, "=")
		col := eq + 1
		for col < len(line) && (line[col] == ' ' || line[col] == '\t') {
			col++
		}
		return fmt.Sprintf("%s:%d:%d", path, i+1, col+1)
	}
	return path
}

func checkBackend(name string) error {
	if !slices.Contains(Backends, name) {
		return fmt.Errorf("unknown backend %q (want one of %s)", name, strings.Join(Backends, ", "))
	}
	return nil
}

func tomlPos(path string, err error) string {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Sprintf("%s:%d:%d", path, row, col)
	}
	var se *toml.StrictMissingError
	if errors.As(err, &se) && len(se.Errors) > 0 {
		row, col := se.Errors[0].Position()
		return fmt.Sprintf("%s:%d:%d", path, row, col)
	}
	return path
}

func tomlMessage(err error) string {
	var se *toml.StrictMissingError
	if errors.As(err, &se) && len(se.Errors) > 0 {
		return fmt.Sprintf("unknown key %q (known keys: backend; sections: images, docker, report, policy)", strings.Join(se.Errors[0].Key(), "."))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		return de.Error()
	}
	return err.Error()
}

// find walks up from dir to the file system root.
func find(dir string) string {
	if dir == "" {
		dir, _ = os.Getwd()
	}
	for {
		candidate := filepath.Join(dir, FileName)
		if st, err := os.Stat(candidate); err == nil && st.Mode().IsRegular() {
			return candidate
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ParseImageMap parses "from=to,from2=to2".
func ParseImageMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			return nil, fmt.Errorf("image map entry %q: want from=to", pair)
		}
		out[strings.TrimSpace(from)] = strings.TrimSpace(to)
	}
	return out, nil
}

// ParsePull parses a pull policy name.
func ParsePull(s string) (backend.PullPolicy, error) {
	p := backend.PullPolicy(strings.ToLower(strings.TrimSpace(s)))
	valid := []backend.PullPolicy{backend.PullMissing, backend.PullNever, backend.PullAlways}
	if !slices.Contains(valid, p) {
		return "", fmt.Errorf("pull policy %q: want missing, never or always", s)
	}
	return p, nil
}

// MapImage rewrites ref through images. An exact match wins; otherwise a
// reference without a tag also matches its ":latest" form, and a key given
// without a tag ("postgres") matches every tag of that repository, keeping
// the tag unless the replacement names one.
func MapImage(images map[string]string, ref string) string {
	if to, ok := images[ref]; ok {
		return to
	}
	repo, tag := splitTag(ref)
	if tag == "" {
		if to, ok := images[ref+":latest"]; ok {
			return to
		}
	}
	if to, ok := images[repo]; ok {
		if _, toTag := splitTag(to); toTag == "" && tag != "" && !strings.Contains(to, "@") {
			return to + ":" + tag
		}
		return to
	}
	return ref
}

// splitTag splits "host:5000/repo:tag" into repo and tag; a colon before the
// last slash belongs to a registry port.
func splitTag(ref string) (string, string) {
	if strings.Contains(ref, "@") {
		return ref, ""
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// Package suite reads the declarative test format: *.cleanroom.toml files,
// loaded into a typed model and validated before anything starts.
//
// Validation reports every problem of every file at once, each as an
// *errs.ValidationError positioned "file:line:col", so a user fixes them in
// one go. A loaded Suite keeps the position of every value, so the runner can
// point a failure at the line that asked for it.
//
// The format is documented in docs/format.md.
package suite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cleanroomhq/cleanroom/errs"
)

// Load reads and validates one suite file. A file that does not validate
// returns errs.ValidationErrors with every problem found.
func Load(path string) (*Suite, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.ValidationErrors{{Pos: path, Message: readMessage(err)}}
	}
	return Parse(path, src)
}

// Parse validates src as the content of the suite file at path: path names
// the file in positions, and relative paths inside it resolve against its
// directory.
func Parse(path string, src []byte) (*Suite, error) {
	var ps problems
	root, p := parseTree(path, src)
	if p != nil {
		return nil, problems{*p}.errors()
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		dir = filepath.Dir(path)
	}
	s := decode(path, dir, root, &ps)
	if len(ps) > 0 {
		return nil, ps.errors()
	}
	return s, nil
}

// LoadAll loads the suites at paths: files, or directories searched
// recursively for *.cleanroom.toml (see Find). It returns the suites that
// are valid and, when any is not, every problem of every file in one
// errs.ValidationErrors.
func LoadAll(paths ...string) ([]*Suite, error) {
	files, err := Find(paths...)
	var all errs.ValidationErrors
	if err != nil {
		if !errors.As(err, &all) {
			return nil, err
		}
	}
	var suites []*Suite
	for _, f := range files {
		s, err := Load(f)
		if err != nil {
			var list errs.ValidationErrors
			if !errors.As(err, &list) {
				return nil, err
			}
			all = append(all, list...)
			continue
		}
		suites = append(suites, s)
	}
	return suites, all.Err()
}

// Find lists the suite files at paths, in order and without duplicates. A
// file is taken as given; a directory is searched recursively for files
// named *.cleanroom.toml, skipping directories named testdata or starting
// with "." or "_" (as the go tool does). No path means ".".
func Find(paths ...string) ([]string, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var files []string
	var problems errs.ValidationErrors
	seen := map[string]bool{}
	add := func(f string) {
		key := filepath.Clean(f)
		if abs, err := filepath.Abs(f); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			files = append(files, f)
		}
	}
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			problems = append(problems, &errs.ValidationError{Pos: root, Message: readMessage(err)})
			continue
		}
		if !st.IsDir() {
			add(root)
			continue
		}
		n := len(files)
		err = filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, &errs.ValidationError{Pos: path, Message: readMessage(err)})
				return nil
			}
			name := de.Name()
			if de.IsDir() {
				if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					return fs.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(name, suiteFileExt) && de.Type().IsRegular() {
				add(path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == n {
			problems = append(problems, &errs.ValidationError{Pos: root, Message: fmt.Sprintf("no *%s files in this directory", suiteFileExt)})
		}
	}
	return files, problems.Err()
}

func readMessage(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

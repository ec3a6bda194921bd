package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Prune removes the snapshots no suite refers to any more. It walks dir for
// .snap files in __snapshots__ directories; referenced maps the snapshot
// file of each suite (PathFor; relative or absolute, the same file either
// way) to the names its steps use. Entries whose name is not referenced are
// deleted, files left without entries are removed, and a file no suite maps
// to is removed whole — so referenced must hold every suite under dir, not
// only those a filter selected or that loaded. removed lists what went, one
// "path: name" line per entry (a file that had no entries at all is listed
// as "path"), in path and name order; paths start with dir.
//
// Prune leaves alone what is not a cleanroom suite snapshot file: files
// that do not start with the cleanroom header (Jest writes
// __snapshots__/*.snap too), files written by Match for go test, and the
// directories vendor, node_modules and those starting with "." (other
// projects' files, .git). A file it cannot read or write is reported in
// err, which joins every failure; the other files are still pruned.
func Prune(dir string, referenced map[string]map[string]bool) (removed []string, err error) {
	refs := make(map[string]map[string]bool, len(referenced))
	for p, names := range referenced {
		refs[absPath(p)] = names
	}
	// WalkDir does not follow a root that is a symbolic link; "link/." is
	// the directory it points to, and the paths below read "link/…".
	root := dir
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		root = dir + string(filepath.Separator) + "."
	}
	var errs []error
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Errorf("snapshot: prune: %w", err))
			if d != nil && d.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || filepath.Ext(path) != Ext || filepath.Base(filepath.Dir(path)) != DirName {
			return nil
		}
		gone, err := pruneFile(path, refs[absPath(path)])
		removed = append(removed, gone...)
		if err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("snapshot: prune %s: %w", dir, walkErr))
	}
	return removed, errors.Join(errs...)
}

func skipDir(name string) bool {
	// The folders suite.Find skips too (testdata, "_…", "."…): their
	// suites are never loaded, so their snapshots would look unreferenced.
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") && name != DirName ||
		name == "testdata" || name == "vendor" || name == "node_modules"
}

// absPath is p absolute and with symbolic links resolved, so that the
// runner's path of a suite and the path Prune walks to name the same file
// the same way: a mismatch would remove the suite's whole file. A file
// that does not exist is named by its resolved directory.
func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(a); err == nil {
		return r
	}
	if d, err := filepath.EvalSymlinks(filepath.Dir(a)); err == nil {
		return filepath.Join(d, filepath.Base(a))
	}
	return a
}

// pruneFile deletes the entries of the file at path that are not in keep
// (all of them when keep is nil).
func pruneFile(path string, keep map[string]bool) ([]string, error) {
	head, err := readHead(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(head, signature) || strings.HasPrefix(head, goTestSignature) {
		return nil, nil
	}
	f, err := Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: prune: %w", err)
	}
	names := f.Names()
	if len(names) == 0 {
		if err := removeFile(path); err != nil {
			return nil, err
		}
		return []string{path}, nil
	}
	var gone []string
	for _, name := range names {
		if !keep[name] {
			f.Delete(name)
			gone = append(gone, path+": "+displayName(name))
		}
	}
	if err := f.Save(); err != nil {
		return nil, err
	}
	return gone, nil
}

// readHead returns the start of the file at path, enough to hold the
// signature line.
func readHead(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("snapshot: prune: %w", err)
	}
	defer fh.Close()
	buf := make([]byte, len(goTestSignature))
	n, err := io.ReadFull(fh, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("snapshot: prune: read %s: %w", path, err)
	}
	return string(buf[:n]), nil
}

package local

import (
	"fmt"
	"path/filepath"
	"strings"
)

// LookPath finds a program as a sandbox of this backend will: an absolute
// path as it is, a bare name in the directories of path (DefaultPath when
// empty) — and never under a directory the sandbox sees empty (/tmp,
// /root, /home, …), where the host has files the sandbox cannot run. It is
// how the checks before a run tell a missing program from one that is
// there.
func LookPath(name, path string) (string, error) {
	if path == "" {
		path = DefaultPath
	}
	var candidates []string
	if strings.Contains(name, "/") {
		candidates = []string{name}
	} else {
		for dir := range strings.SplitSeq(path, ":") {
			if filepath.IsAbs(dir) {
				candidates = append(candidates, filepath.Join(dir, name))
			}
		}
	}
	for _, p := range candidates {
		if !filepath.IsAbs(p) || !isExecutable(p) {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if h := hiddenBy(real); h != "" {
			return "", fmt.Errorf("%s is under %s, which a sandbox sees empty", p, h)
		}
		return p, nil
	}
	if strings.Contains(name, "/") {
		return "", fmt.Errorf("%s: %w", name, errNotFound)
	}
	return "", fmt.Errorf("%q in %s: %w", name, path, errNotFound)
}

// hiddenBy returns the hidden path that p lies under, or "".
func hiddenBy(p string) string {
	for _, h := range hidden {
		if p == h || strings.HasPrefix(p, h+"/") {
			return h
		}
	}
	return ""
}

// ErrNotFound is wrapped by LookPath's error for a program that is not there
// at all (rather than hidden from sandboxes).
var ErrNotFound = errNotFound

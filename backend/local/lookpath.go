package local

import (
	"fmt"
	"os"
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

// hiddenBy returns the hidden path that p lies under, or "". The working
// directory stays visible (workDir).
func hiddenBy(p string) string {
	if wd := workDir(); wd != "" && (p == wd || strings.HasPrefix(p, wd+"/")) {
		return ""
	}
	for _, h := range hidden {
		if p == h || strings.HasPrefix(p, h+"/") {
			return h
		}
	}
	return ""
}

// workDir is this process's working directory when it lies under a hidden
// directory, else "": a project checked out under /home or /tmp stays
// visible (read-only) to its sandboxes, with the programs built in it.
func workDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(wd); err == nil {
		wd = real
	}
	for _, h := range hidden {
		// Strictly below: all of /tmp or /root is what stays hidden.
		if strings.HasPrefix(wd, h+"/") {
			return wd
		}
	}
	return ""
}

// ErrNotFound is wrapped by LookPath's error for a program that is not there
// at all (rather than hidden from sandboxes).
var ErrNotFound = errNotFound

package cleanroom

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/service"
)

// forHost turns a spec into its form for a backend that runs programs of
// this machine instead of images (backend.RunsImages is false): the kind's
// Host form, whose programs must be installed here. It also returns what
// the report shows for the image: the program that runs.
func forHost(sp service.Spec) (service.Spec, string, error) {
	fail := func(format string, args ...any) (service.Spec, string, error) {
		return sp, "", &errs.ValidationError{Field: "service " + sp.Name, Message: fmt.Sprintf(format, args...)}
	}
	if sp.Build != nil {
		return fail("a build needs the Docker backend (--backend docker); the local backend runs programs of this machine, not images")
	}
	if sp.Host == nil {
		// A generic service: its command runs from this machine, and its
		// image (what Docker would run it from) is not used.
		argv := append(slices.Clone(sp.Entrypoint), sp.Command...)
		if len(argv) == 0 {
			return fail("image %s runs its own command, which needs the Docker backend (--backend docker); give the service a command to run from this machine", sp.Image)
		}
		out := sp
		out.Image = ""
		return out, "host:" + argv[0], nil
	}
	h := sp.Host
	var dirs []string
	shown := ""
	for _, p := range h.Require {
		path, err := findProgram(p)
		if err != nil {
			return fail("the local backend runs %s from this machine, and %v; install %s", sp.Kind, err, p.Install)
		}
		if shown == "" {
			shown = "host:" + path
		}
		if dir := filepath.Dir(path); !onDefaultPath(dir) && !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	out := sp
	out.Image = ""
	if h.Entrypoint != nil {
		out.Entrypoint = h.Entrypoint
	}
	out.Env = maps.Clone(sp.Env)
	if out.Env == nil {
		out.Env = map[string]string{}
	}
	maps.Copy(out.Env, h.Env)
	if _, set := out.Env["PATH"]; !set && len(dirs) > 0 {
		out.Env["PATH"] = strings.Join(append(dirs, local.DefaultPath), ":")
	}
	out.Files = append(slices.Clone(h.Files), sp.Files...)
	if len(h.Tmpfs) > 0 {
		out.Tmpfs = maps.Clone(sp.Tmpfs)
		if out.Tmpfs == nil {
			out.Tmpfs = map[string]string{}
		}
		maps.Copy(out.Tmpfs, h.Tmpfs)
	}
	if shown == "" {
		shown = "host"
	}
	return out, shown, nil
}

// findProgram looks for a program where a sandbox finds programs, then in
// the program's own directories (the highest version first).
func findProgram(p service.Program) (string, error) {
	if path, err := local.LookPath(p.Name, ""); err == nil {
		return path, nil
	}
	var found []string
	for _, glob := range p.Dirs {
		dirs, _ := filepath.Glob(glob)
		for _, d := range dirs {
			if path, err := local.LookPath(filepath.Join(d, p.Name), ""); err == nil {
				found = append(found, path)
			}
		}
	}
	if len(found) == 0 {
		where := "PATH"
		if len(p.Dirs) > 0 {
			where += " or in " + strings.Join(p.Dirs, ", ")
		}
		return "", fmt.Errorf("%q was not found on %s", p.Name, where)
	}
	// /usr/lib/postgresql/15 before /usr/lib/postgresql/9.
	slices.SortFunc(found, func(a, b string) int { return -naturalCompare(a, b) })
	return found[0], nil
}

// naturalCompare orders strings with their runs of digits compared as
// numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:da], 10, 64)
			nb, _ := strconv.ParseUint(b[:db], 10, 64)
			if na != nb {
				return cmp.Compare(na, nb)
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func onDefaultPath(dir string) bool {
	return slices.Contains(strings.Split(local.DefaultPath, ":"), dir)
}

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cleanroomhq/cleanroom/internal/cgroupfs"
	"github.com/cleanroomhq/cleanroom/policy"
)

// cgroupTree is where the backend makes its cgroups: below the runner's own
// cgroup, "cleanroom/<session>/<container>", in each v1 controller it uses,
// or in the v2 hierarchy.
type cgroupTree struct {
	v2 bool
	// bases are absolute directories: one per v1 controller (by name), or
	// the one v2 directory under "".
	bases map[string]string
}

// v1Controllers are the controllers the backend limits and reads.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

const cgroupMount = "/sys/fs/cgroup"

func findCgroupTree() (*cgroupTree, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	paths := cgroupfs.ParseProcCgroup(string(b))
	t := &cgroupTree{bases: map[string]string{}}
	if _, ok := paths["memory"]; ok {
		for _, c := range v1Controllers {
			p, ok := paths[c]
			dir := filepath.Join(cgroupMount, c)
			if st, err := os.Stat(dir); !ok || err != nil || !st.IsDir() {
				continue
			}
			t.bases[c] = filepath.Join(dir, p)
		}
		if t.bases["memory"] == "" || t.bases["pids"] == "" {
			return nil, errors.New("the memory and pids cgroup controllers are not mounted under /sys/fs/cgroup")
		}
		return t, nil
	}
	if _, ok := paths[""]; ok {
		// A v2 cgroup with processes cannot delegate controllers to
		// children ("no internal processes"), so the tree hangs from the
		// root of the hierarchy rather than from the runner's own cgroup.
		t.v2 = true
		t.bases[""] = cgroupMount
		return t, nil
	}
	return nil, errors.New("no cgroup hierarchy found in /proc/self/cgroup")
}

// cgroup is one container's cgroup (a directory per v1 controller).
type cgroup struct {
	v2   bool
	dirs map[string]string // controller ("" on v2) → absolute directory
}

// create makes the cgroup rel ("cleanroom/<session>/<id>") and sets the
// policy's limits on it. With parent, its processes live in children of
// their own, for which cgroup v2 must enable the controllers.
func (t *cgroupTree) create(rel string, p policy.Policy, parent bool) (*cgroup, error) {
	cg := &cgroup{v2: t.v2, dirs: map[string]string{}}
	for c, base := range t.bases {
		if t.v2 {
			// enableV2 enables down to the parent of its last part.
			through := rel
			if parent {
				through = filepath.Join(rel, "child")
			}
			if err := enableV2(base, through); err != nil {
				return nil, err
			}
		}
		dir := filepath.Join(base, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		cg.dirs[c] = dir
	}
	if err := cg.limit(p); err != nil {
		_ = cg.remove()
		return nil, err
	}
	return cg, nil
}

// enableV2 turns on the memory, cpu and pids controllers for the children
// of every level from base down to rel's parent, the parent included: a
// controller's files exist in a cgroup only if its parent enabled it.
func enableV2(base, rel string) error {
	dir := base
	parts := strings.Split(rel, "/")
	for i := 0; ; i++ {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0); err != nil {
			return fmt.Errorf("enabling cgroup controllers in %s (a cgroup v2 hierarchy must be delegated to cleanroom): %w", dir, err)
		}
		if i == len(parts)-1 {
			return nil
		}
		dir = filepath.Join(dir, parts[i])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
}

func (cg *cgroup) write(controller, file, value string) error {
	dir, ok := cg.dirs[controller]
	if cg.v2 {
		dir, ok = cg.dirs[""]
	}
	if !ok {
		return fmt.Errorf("cgroup controller %s is not available", controller)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s: %w", filepath.Join(dir, file), err)
	}
	return nil
}

func (cg *cgroup) limit(p policy.Policy) error {
	if cg.v2 {
		var errs []error
		if p.Memory > 0 {
			errs = append(errs, cg.write("", "memory.max", strconv.FormatInt(p.Memory, 10)))
			if err := cg.write("", "memory.swap.max", "0"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if p.CPUs > 0 {
			errs = append(errs, cg.write("", "cpu.max", fmt.Sprintf("%d 100000", int64(p.CPUs*100000))))
		}
		if p.Pids > 0 {
			errs = append(errs, cg.write("", "pids.max", strconv.FormatInt(p.Pids, 10)))
		}
		return errors.Join(errs...)
	}
	if p.Memory > 0 {
		if err := cg.write("memory", "memory.limit_in_bytes", strconv.FormatInt(p.Memory, 10)); err != nil {
			return err
		}
		// Swap equal to the limit: no swap at all, as on Docker. Kernels
		// without swap accounting have no such file.
		if err := cg.write("memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(p.Memory, 10)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if p.CPUs > 0 {
		if err := cg.write("cpu", "cpu.cfs_period_us", "100000"); err != nil {
			return err
		}
		if err := cg.write("cpu", "cpu.cfs_quota_us", strconv.FormatInt(int64(p.CPUs*100000), 10)); err != nil {
			return err
		}
	}
	if p.Pids > 0 {
		if err := cg.write("pids", "pids.max", strconv.FormatInt(p.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}

// add moves a process into the cgroup, in every controller.
func (cg *cgroup) add(pid int) error {
	for _, dir := range cg.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("moving process %d into cgroup %s: %w", pid, dir, err)
		}
	}
	return nil
}

// procs lists the processes in the cgroup.
func (cg *cgroup) procs() []int {
	dir := cg.dirs["pids"]
	if cg.v2 {
		dir = cg.dirs[""]
	}
	return readProcs(dir)
}

func readProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	return parsePids(b)
}

// parsePids reads a cgroup.procs file: one PID per line.
func parsePids(b []byte) []int {
	var out []int
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// killAll kills every process in dir's cgroup until it is empty: the sweep's
// way to end a sandbox whose init was not the backend's child.
func killAll(dir string) {
	killUntilGone(func() []int { return readProcs(dir) }, 10*time.Millisecond)
}

// childEvents counts, over the cgroup's children ("main", "exec-N"), the
// forks the pids limit refused and the processes the OOM killer killed. On
// cgroup v1 the kernel counts both where the process was, not where the
// limit is (the container's cgroup, whose own counts cgroupfs reads); on
// v2 the container's counts include its children's already.
func (cg *cgroup) childEvents() (forkRefusals, oomKills uint64) {
	if cg.v2 {
		return 0, 0
	}
	sum := func(controller, file, key string) uint64 {
		dir := cg.dirs[controller]
		entries, _ := os.ReadDir(dir)
		var n uint64
		for _, e := range entries {
			if e.IsDir() {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name(), file))
				n += cgroupfs.Field(string(b), key)
			}
		}
		return n
	}
	return sum("pids", "pids.events", "max"), sum("memory", "memory.oom_control", "oom_kill")
}

// paths lists its directories, one per controller.
func (cg *cgroup) paths() []string {
	return slices.Sorted(maps.Values(cg.dirs))
}

// remove deletes the cgroup and its children once their processes are
// gone (the kernel frees a cgroup a moment after its last process is
// reaped), killing what is left.
func (cg *cgroup) remove() error {
	var errs []error
	for _, dir := range cg.dirs {
		errs = append(errs, rmdirTree(dir))
	}
	return errors.Join(errs...)
}

// rmdirTree removes a cgroup directory, its children first.
func rmdirTree(dir string) error {
	entries, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, rmdirTree(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(append(errs, rmdirWait(dir))...)
}

func rmdirWait(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		killAll(dir)
		time.Sleep(5 * time.Millisecond)
	}
}

// files locates the cgroup's counters for cgroupfs.
func (cg *cgroup) files() *cgroupfs.Files {
	rel := func(dir string) string { return strings.TrimPrefix(dir, "/") }
	if cg.v2 {
		d := rel(cg.dirs[""])
		return &cgroupfs.Files{FS: os.DirFS("/"), V2: true, Memory: d, CPU: d, Pids: d}
	}
	return &cgroupfs.Files{FS: os.DirFS("/"), Memory: rel(cg.dirs["memory"]), CPU: rel(cg.dirs["cpuacct"]), Pids: rel(cg.dirs["pids"])}
}

// sessionDirs are the session's cgroup directories in every controller.
func (t *cgroupTree) sessionDirs(session string) []string {
	if t == nil { // rootless: no cgroups
		return nil
	}
	var out []string
	for _, base := range t.bases {
		out = append(out, filepath.Join(base, "cleanroom", session))
	}
	return out
}

// abandoned lists the sessions whose cgroups hold no process in any
// hierarchy and have not changed for age.
func (t *cgroupTree) abandoned(age time.Duration) []string {
	if t == nil {
		return nil
	}
	seen := map[string]bool{} // session → still in use somewhere
	for _, base := range t.bases {
		entries, _ := os.ReadDir(filepath.Join(base, "cleanroom"))
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(base, "cleanroom", e.Name())
			info, err := e.Info()
			inUse := err != nil || time.Since(info.ModTime()) < age || hasProcs(dir)
			seen[e.Name()] = seen[e.Name()] || inUse
		}
	}
	var out []string
	for id, inUse := range seen {
		if !inUse {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// hasProcs says whether a cgroup or one below it has a process.
func hasProcs(dir string) bool {
	if len(readProcs(dir)) > 0 {
		return true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && hasProcs(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}

// removeSession kills what is left in a session's cgroups and removes them,
// children first.
func (t *cgroupTree) removeSession(session string) error {
	var errs []error
	for _, dir := range t.sessionDirs(session) {
		errs = append(errs, rmdirTree(dir))
	}
	return errors.Join(errs...)
}

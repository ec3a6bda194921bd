package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Where a sandbox's processes go in the cgroup tree. The init process runs
// in a cgroup of its own beside the container's ("<id>.init"), outside the
// limits: a fork bomb that uses up the container's pids must not take the
// init's threads with it, nor its memory count as the container's. Every
// process the init starts is born in a child of the container's cgroup,
// "main" for the main process and an "exec-N" of its own for each exec
// running (reused once empty), so that a timed out exec's processes are
// found, and killed, even when they have left its process tree.
//
// On cgroup v1 a single thread can change cgroups: the spawner thread moves
// into the child, forks, and moves back. On v2 the child is given to
// clone3 (CLONE_INTO_CGROUP).
type placement struct {
	v2   bool
	dirs []*os.File // the container's cgroup, one per v1 controller (one on v2)
	init []*os.File // the init's cgroup, likewise (v1 only)

	mu    sync.Mutex
	execs int      // exec cgroups made so far
	free  []string // exec cgroups without a process, for the next exec
}

// acquire names the cgroup for an exec: an empty one left by an earlier
// exec, or a new one. Reusing them spares every exec a mkdir and an rmdir
// per controller; their counts (refused forks, OOM kills) add up all the
// same, and they go with the container.
func (pl *placement) acquire() string {
	if pl == nil {
		return ""
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if n := len(pl.free); n > 0 {
		name := pl.free[n-1]
		pl.free = pl.free[:n-1]
		return name
	}
	pl.execs++
	return "exec-" + strconv.Itoa(pl.execs)
}

// release gives an exec's cgroup back once the exec is over, unless
// processes it left behind still run there (as on an engine, they stay until
// the container goes).
func (pl *placement) release(name string) {
	if pl == nil || len(pl.procs(name)) > 0 {
		return
	}
	pl.mu.Lock()
	pl.free = append(pl.free, name)
	pl.mu.Unlock()
}

// openPlacement opens the directories while the host's cgroup filesystems
// are still reachable: the container sees none.
func openPlacement(cfg sandboxConfig) (*placement, error) {
	pl := &placement{v2: cfg.CgroupV2}
	open := func(paths []string) ([]*os.File, error) {
		var out []*os.File
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				return nil, fmt.Errorf("cgroup %s: %w", p, err)
			}
			out = append(out, f)
		}
		return out, nil
	}
	if len(cfg.Cgroup) == 0 {
		if cfg.Rootless {
			return nil, nil // no cgroups: the sandbox has none
		}
		return nil, errors.New("the sandbox was given no cgroup")
	}
	var err error
	if pl.dirs, err = open(cfg.Cgroup); err != nil {
		return nil, err
	}
	if pl.init, err = open(cfg.InitCgroup); err != nil {
		return nil, err
	}
	return pl, nil
}

// enter makes child name and puts the calling thread there (v1), or
// returns its directory's fd for clone3 (v2). leave puts the thread back.
func (pl *placement) enter(name string) (cgroupFD int, leave func(), err error) {
	leave = func() {}
	if pl == nil {
		return -1, leave, nil
	}
	for _, d := range pl.dirs {
		if err := unix.Mkdirat(int(d.Fd()), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, leave, fmt.Errorf("cgroup %s/%s: %w", d.Name(), name, err)
		}
	}
	if pl.v2 {
		fd, err := unix.Openat(int(pl.dirs[0].Fd()), name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, leave, err
		}
		return fd, func() { unix.Close(fd) }, nil
	}
	tid := []byte(strconv.Itoa(unix.Gettid()))
	move := func(dirs []*os.File, sub string) error {
		for _, d := range dirs {
			if err := writeAt(d, filepath.Join(sub, "tasks"), tid); err != nil {
				return err
			}
		}
		return nil
	}
	leave = func() { _ = move(pl.init, ".") }
	if err := move(pl.dirs, name); err != nil {
		leave()
		return -1, func() {}, err
	}
	return -1, leave, nil
}

func writeAt(dir *os.File, name string, b []byte) error {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup %s/%s: %w", dir.Name(), name, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, b); err != nil {
		return fmt.Errorf("cgroup %s/%s: %w", dir.Name(), name, err)
	}
	return nil
}

// procs lists the processes in child name.
func (pl *placement) procs(name string) []int {
	fd, err := unix.Openat(int(pl.dirs[0].Fd()), filepath.Join(name, "cgroup.procs"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, _ := io.ReadAll(f)
	return parsePids(b)
}

// kill kills every process in child name until none is left, whatever
// tree it belongs to now.
func (pl *placement) kill(name string) {
	killUntilGone(func() []int { return pl.procs(name) }, 2*time.Millisecond)
}

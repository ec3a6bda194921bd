package local

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Where neither a cgroup (placement.kill) nor a time namespace
// (timens.go) finds what a timed-out exec started, its process tree does:
// a process that left the tree (a daemon that forked twice) is not found,
// and lives until the container stops.

// killTree kills a command's process group and every process descended from
// it, until none is left. The tree is collected before the kill: once a
// parent dies, its children are the init's and no longer show whose they were.
func killTree(pid int) {
	deadline := time.Now().Add(5 * time.Second)
	tree := map[int]bool{pid: true}
	for time.Now().Before(deadline) {
		for p := range descendants(tree) {
			tree[p] = true
		}
		_ = unix.Kill(-pid, unix.SIGKILL)
		alive := 0
		for p := range tree {
			if unix.Kill(p, unix.SIGKILL) == nil && !isZombie(p) {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// descendants returns the processes whose parent chain reaches a member of
// roots, from /proc of the container's PID namespace.
func descendants(roots map[int]bool) map[int]bool {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			parent[p] = pp
		}
	}
	out := map[int]bool{}
	for p := range parent {
		for q, n := p, 0; q > 1 && n < 64; q, n = parent[q], n+1 {
			if roots[q] {
				out[p] = true
				break
			}
		}
	}
	return out
}

// ppid reads a process's parent from /proc/PID/stat; the command name in
// parentheses may contain spaces, so fields are counted after its end.
func ppid(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

package local

import (
	"time"

	"golang.org/x/sys/unix"
)

// killUntilGone kills the processes list names, again and again, until it
// names none (or 5 seconds have passed): a process may fork while it is
// being killed.
func killUntilGone(list func() []int, pause time.Duration) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pids := list()
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			_ = unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(pause)
	}
}

// Where neither a cgroup (placement.kill) nor a time namespace
// (timens.go) finds what a timed-out exec started, its process tree does:
// a process that left the tree (a daemon that forked twice) is not found,
// and lives until the container stops.

// killTree kills a command's process group and every process descended from
// it, until none is left. The tree is collected before the kill: once a
// parent dies, its children are the init's and no longer show whose they were.
func killTree(pid int) {
	tree := map[int]bool{pid: true}
	killUntilGone(func() []int {
		// One read of /proc of the container's PID namespace serves
		// both: who joined the tree, and who of it still runs.
		procs := procTable()
		for p := range procs {
			if descends(procs, p, tree) {
				tree[p] = true
			}
		}
		_ = unix.Kill(-pid, unix.SIGKILL)
		var alive []int
		for p := range tree {
			if st, ok := procs[p]; ok && st.state != 'Z' {
				alive = append(alive, p)
			}
		}
		return alive
	}, 5*time.Millisecond)
}

// isZombie says whether pid has exited (and is not reaped yet, or gone).
func isZombie(pid int) bool {
	st, ok := readProcStat(pid)
	return !ok || st.state == 'Z'
}

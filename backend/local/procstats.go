package local

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
)

// procStats samples a sandbox without cgroups (rootless) from /proc, as
// ps would: the processes below its init process, their threads, their
// resident memory (a page shared by two processes counts in both, and the
// page cache not at all, where a cgroup counts each page once, cache
// included), and the CPU time of every process the sandbox ran, the ended
// ones included: their parents, or the init that reaps orphans, add a
// child's time to their own once they have waited for it.
func procStats(init int, pidsLimit int64) backend.Stats {
	st := backend.Stats{At: time.Now(), PidsLimit: pidsLimit}
	procs := procTable()
	if p, ok := procs[init]; ok {
		st.CPU += p.childCPU // the init's own time is not the container's
	}
	roots := map[int]bool{init: true}
	for pid, p := range procs {
		if !descends(procs, pid, roots) {
			continue
		}
		st.CPU += p.cpu + p.childCPU
		st.Pids += p.threads
		st.Memory += p.rss
	}
	return st
}

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	state    byte // R, S, D, Z…
	ppid     int
	cpu      time.Duration // user and system time
	childCPU time.Duration // of the children it has waited for
	threads  int64
	rss      int64 // bytes
}

// clockTick is the unit of /proc's times (USER_HZ, 100 on every Linux
// architecture Go runs on).
const clockTick = 10 * time.Millisecond

func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its end (state is field 3, so f[0]).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return procStat{}, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
	return procStat{
		state:    f[0][0],
		ppid:     int(n(4)),
		cpu:      time.Duration(n(14)+n(15)) * clockTick,
		childCPU: time.Duration(n(16)+n(17)) * clockTick,
		threads:  n(20),
		rss:      n(24) * int64(os.Getpagesize()),
	}, true
}

// procPids lists the processes in /proc (the host's, or a sandbox's own).
func procPids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// procTable reads the stat file of every process, by pid.
func procTable() map[int]procStat {
	procs := map[int]procStat{}
	for _, pid := range procPids() {
		if p, ok := readProcStat(pid); ok {
			procs[pid] = p
		}
	}
	return procs
}

// descends says whether pid is below one of roots in the process tree.
// The walk stops at init (pid 1), whose children are orphans, and at a
// process procs does not know.
func descends(procs map[int]procStat, pid int, roots map[int]bool) bool {
	for n := 0; n < 4096; n++ {
		p, ok := procs[pid]
		if !ok || p.ppid <= 1 {
			return false
		}
		if roots[p.ppid] {
			return true
		}
		pid = p.ppid
	}
	return false
}

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
	procs := map[int]procStat{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProcStat(pid); ok {
			procs[pid] = p
		}
	}
	if p, ok := procs[init]; ok {
		st.CPU += p.childCPU // the init's own time is not the container's
	}
	for pid, p := range procs {
		if !descends(procs, pid, init) {
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

// descends says whether pid is below root in the process tree.
func descends(procs map[int]procStat, pid, root int) bool {
	for n := 0; n < 4096; n++ {
		p, ok := procs[pid]
		if !ok || p.ppid <= 1 {
			return false
		}
		if p.ppid == root {
			return true
		}
		pid = p.ppid
	}
	return false
}

package local

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Without cgroups (a rootless sandbox), an exec's processes are found by a
// namespace of their own instead, one that changes nothing they see: a
// time namespace with no offsets. Like a cgroup, and unlike a process
// group, a session or the process tree, a process cannot leave it: joining
// another needs CAP_SYS_ADMIN, which an engine's default capabilities do
// not include, and which a new user namespace would give, so a rootless
// sandbox makes none (buildRoot). A `cap_add = ["SYS_ADMIN"]` opens the way
// out, as it opens the way to the cgroup filesystem under root. So a timed-out exec's processes are all found, and killed,
// even those that left its tree (a daemon that forked twice).
//
// The spawner thread unshares a new one before each exec's fork: the
// kernel puts the thread's next children there, and not the thread itself.

// timeNS is an exec's time namespace: its name ("time:[inode]"), and an
// open file of it, which keeps it, and so its name, from going to another
// namespace while the exec may still be killed by it.
type timeNS struct {
	name string
	f    *os.File
}

// Close lets the namespace go once its processes have.
func (t *timeNS) Close() {
	if t != nil {
		t.f.Close()
	}
}

// newExecTimeNS makes a new time namespace for the calling thread's next
// children, or returns nil where the kernel has none (before 5.6);
// treekill.go serves then.
func newExecTimeNS() *timeNS {
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return nil
	}
	const p = "/proc/thread-self/ns/time_for_children"
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	name, err := os.Readlink(p)
	if err != nil {
		f.Close()
		return nil
	}
	return &timeNS{name: name, f: f}
}

// killTimeNS kills every process in time namespace tag until none is left.
func killTimeNS(tag string) {
	killUntilGone(func() []int { return inTimeNS(tag) }, 2*time.Millisecond)
}

// inTimeNS lists the live processes of the sandbox in time namespace tag.
func inTimeNS(tag string) []int {
	var out []int
	for _, pid := range procPids() {
		if ns, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", "time")); err == nil && ns == tag && !isZombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}

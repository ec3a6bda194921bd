package local

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// A rootless sandbox's process limit, for all its users together.
//
// RLIMIT_NPROC counts per user, in the user's user namespace, and so a
// limit set in the sandbox (limitProcesses) holds for each of its users
// apart: root's processes, postgres's, and those of any user a process
// changes to. The kernel also counts every task of a user namespace, of
// whatever user, against the user that owns the namespace, one level up,
// and holds that count to the RLIMIT_NPROC its creator had when it made it
// (the namespace's rlimit_max). So the holder gives each sandbox's user
// namespace an owner of its own, a user of the holder's namespace as which
// no process of that namespace runs (the sandboxes' processes are in
// namespaces of their own; with the subordinate ids, there are 65535 such
// users), and makes it with the limit in force: the spawner thread alone
// becomes that user for the clone, with its soft limit lowered. Without
// subordinate ids a sandbox has root alone, and the limit per user is the
// limit for all.
//
// The init's own threads count in the sandbox's total too, and the limit
// is fixed before the init exists to say how many it has: initAllowance is
// what the holder adds for them. Root's processes in the sandbox still
// have the exact limit (limitProcesses adds the threads the init has).

// initAllowance is the threads the limit for all users together leaves
// the init: the runtime's few, limitProcesses's spares, the spawner.
const initAllowance = 24

// owners hands out the users that own sandboxes' user namespaces: 1 to
// max of the holder's namespace, each to one live sandbox.
type owners struct {
	mu   sync.Mutex
	max  int
	next int
	used map[int]bool
}

// take returns a free owner, or 0 if none is left.
func (o *owners) take() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	for range o.max {
		o.next = o.next%o.max + 1
		if !o.used[o.next] {
			o.used[o.next] = true
			return o.next
		}
	}
	return 0
}

// give returns an owner taken (0 is none).
func (o *owners) give(uid int) {
	o.mu.Lock()
	delete(o.used, uid)
	o.mu.Unlock()
}

// asOwner runs fn, which makes a user namespace (a clone), on the calling
// thread as user uid of the holder's namespace and with its soft
// RLIMIT_NPROC at limit: the namespace is then uid's, and limit is its
// rlimit_max. The thread is root again afterwards, with its capabilities
// and the process's limit as they were. Only this thread changes: the
// set*id system calls act on one thread (Go's syscall.Setresuid would
// change them all), and the spawner thread is locked to its goroutine.
func asOwner(uid int, limit int64, fn func() error) (err error) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return err
	}
	lowered := old
	if uint64(limit) < lowered.Cur {
		lowered.Cur = uint64(limit)
	}
	// The capabilities survive the change of user (keepcaps keeps them
	// permitted; capset makes them effective again): writing the new
	// namespace's id map needs CAP_SETUID here.
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return err
	}
	defer unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("becoming user %d to own the sandbox's user namespace: %w", uid, e)
	}
	defer func() {
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 && err == nil {
			err = fmt.Errorf("becoming root again after starting a sandbox: %w", e)
		}
		// A change of user makes the whole process not dumpable, and
		// then its /proc files are no longer its user's to read: the
		// runner finds the holder by its environment (sandboxesOf).
		_ = unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0)
	}()
	if err := effectiveCaps(); err != nil {
		return err
	}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &lowered); err != nil {
		return err
	}
	defer unix.Setrlimit(unix.RLIMIT_NPROC, &old)
	return fn()
}

// effectiveCaps makes the calling thread's permitted capabilities
// effective.
func effectiveCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	for i := range data {
		data[i].Effective = data[i].Permitted
	}
	return unix.Capset(&hdr, &data[0])
}

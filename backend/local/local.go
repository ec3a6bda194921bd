// Package local runs cleanroom's containers as sandboxed processes of this
// machine, for machines without a Docker engine. Each container is a
// process tree in its own mount, PID, UTS and IPC namespaces, in cgroups
// that carry its policy's limits, with a copy-on-write view of the host's
// root directory (an overlay whose writes go to a tmpfs). The containers of
// one session share a private network namespace that has only loopback:
// they reach each other, by name or as 127.0.0.1, and nothing else, and the
// runner reaches them through the session's dialer (backend.Dialer).
//
// It needs Linux and overlayfs. As root it makes the namespaces, mounts
// and cgroups itself. A runner that is not root makes the namespaces and
// mounts inside user namespaces of its own (holder.go): there the host's
// files keep their owners, so a sandbox reads them but does not write them
// in place, and there are no cgroups, so the process limit is an rlimit
// and memory and CPU limits are refused (Restrictions). What it cannot do
// that the Docker backend does is listed in docs/backends.md: images,
// builds, seccomp, and a network to the host.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// Name is the backend's name in errors and reports.
const Name = "local"

// DefaultStateDir is where sessions keep their control sockets and labels
// when the runner is root; StateDir says where for any user.
const DefaultStateDir = "/run/cleanroom/local"

// StateDir is where a runner of this user keeps its sessions' state unless
// told otherwise: DefaultStateDir for root, else cleanroom/local under
// $XDG_RUNTIME_DIR, or cleanroom-<uid>/local in the temporary directory.
func StateDir() string {
	if os.Geteuid() == 0 {
		return DefaultStateDir
	}
	// Only the user's own: after su, the variable may still name the
	// previous user's.
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) && ownedByMe(d) {
		return filepath.Join(d, "cleanroom", "local")
	}
	return filepath.Join(os.TempDir(), "cleanroom-"+strconv.Itoa(os.Geteuid()), "local")
}

// Backend starts sandboxes on this machine.
type Backend struct {
	stateDir string
	path     []string // directories put first on every sandbox's PATH
	// visible are host directories bound read-only into every sandbox
	// although they lie under a hidden one: the working directory, where
	// the project and its programs are, when it is under /home or /tmp.
	visible []string
	cgroups *cgroupTree // nil when rootless
	hostMem int64
	// rootless is a runner that is not root; ids is what its sessions'
	// user namespaces map.
	rootless bool
	ids      idMap
}

type config struct {
	stateDir string
	path     []string
}

// Option configures New.
type Option func(*config)

// WithStateDir keeps session state (sockets, labels) under dir instead of
// StateDir().
func WithStateDir(dir string) Option { return func(c *config) { c.stateDir = dir } }

// WithPath puts host directories first on the PATH of every process the
// sandboxes start (unless a spec sets PATH itself), mounted read-only at
// the same path: a toolbox of commands the host does not have in its own
// PATH (busybox applets, a PostgreSQL bin directory).
func WithPath(dirs ...string) Option { return func(c *config) { c.path = append(c.path, dirs...) } }

// New checks that this machine can run sandboxes and returns the backend.
// The error says what is missing.
func New(opts ...Option) (*Backend, error) {
	cfg := config{stateDir: StateDir()}
	for _, o := range opts {
		o(&cfg)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	rootless := os.Geteuid() != 0
	var tree *cgroupTree
	if !rootless {
		var err error
		if tree, err = findCgroupTree(); err != nil {
			return nil, &errs.BackendError{Backend: Name, Op: "connect", Err: err}
		}
	}
	if err := ownDir(cfg.stateDir); err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "connect", Err: err}
	}
	for _, d := range cfg.path {
		if !filepath.IsAbs(d) {
			return nil, &errs.BackendError{Backend: Name, Op: "connect", Err: fmt.Errorf("PATH directory %q is not absolute", d)}
		}
	}
	b := &Backend{stateDir: cfg.stateDir, path: cfg.path, cgroups: tree, hostMem: hostMemory(), rootless: rootless}
	if rootless {
		b.ids = currentIDMap()
	}
	if wd := workDir(); wd != "" {
		b.visible = append(b.visible, wd)
	}
	return b, nil
}

// Available says whether this machine can run the local backend, and if
// not, why: it needs Linux, and root or user namespaces that a user may
// make.
func Available() error {
	if runtime.GOOS != "linux" {
		return &errs.BackendError{Backend: Name, Op: "connect", Err: fmt.Errorf("sandboxes need Linux namespaces; this is %s", runtime.GOOS)}
	}
	if os.Geteuid() == 0 {
		return nil
	}
	for _, s := range []struct{ file, refused, key string }{
		{"/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone"},
		// Ubuntu 23.10 on: AppArmor gives unprivileged user namespaces no
		// capabilities unless a profile allows the program.
		{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns"},
	} {
		if b, err := os.ReadFile(s.file); err == nil && strings.TrimSpace(string(b)) == s.refused {
			return &errs.BackendError{Backend: Name, Op: "connect", Err: fmt.Errorf("sandboxes need root, or user namespaces, which this machine does not give users (%s is %s); run as root or use --backend docker", s.key, s.refused)}
		}
	}
	return nil
}

// Rootless says whether the backend runs without root, in user namespaces.
func (b *Backend) Rootless() bool { return b.rootless }

// Restrictions says what a rootless backend cannot do: limits other than
// the process limit, without cgroups; and users other than root, unless
// this user has subordinate ids and newuidmap to map them.
func (b *Backend) Restrictions() backend.Restrictions { return restrictions(b.rootless, b.ids) }

// RestrictionsHere says what the local backend cannot do for this user on
// this machine, without making one (validate --backend local).
func RestrictionsHere() backend.Restrictions {
	rootless := os.Geteuid() != 0
	var ids idMap
	if rootless {
		ids = currentIDMap()
	}
	return restrictions(rootless, ids)
}

func restrictions(rootless bool, ids idMap) backend.Restrictions {
	var r backend.Restrictions
	if rootless {
		r.Limits = "without root the local backend has no cgroup to enforce it with; run as root, or use the Docker backend (--backend docker)"
		if !ids.full() {
			r.Users = "without root the local backend has only root in its sandboxes here; other users need " + ids.why()
		}
	}
	return r
}

// ownedByMe says whether dir is this user's alone, as XDG_RUNTIME_DIR
// must be.
func ownedByMe(dir string) bool {
	st, err := os.Stat(dir)
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && st.IsDir() && int(sys.Uid) == os.Geteuid() && st.Mode().Perm()&0o077 == 0
}

// ownDir makes dir (and its parents) for this user alone. A user other
// than root refuses one that another user made first: a shared temporary
// directory is a place where someone else could have prepared it.
func ownDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil || os.Geteuid() == 0 {
		return err
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		st, err := os.Lstat(d)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if int(sys.Uid) == os.Geteuid() {
			if st.Mode().Perm()&0o022 != 0 {
				return fmt.Errorf("state directory %s: %s is writable by others", dir, d)
			}
			continue
		}
		// The first directory up the path that is not ours (/tmp, or
		// /run/user): ours below it are safe if root owns it and it is
		// sticky or only root's to write. Another user's directory is
		// not: its owner may rename what is in it, sticky or not.
		if sys.Uid != 0 || st.Mode()&os.ModeSymlink != 0 || st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0 {
			return fmt.Errorf("state directory %s: %s is not safe to keep it under", dir, d)
		}
		return nil
	}
	return nil
}

func (b *Backend) Name() string { return Name }

// RunsImages is false: containers run programs of this machine.
func (b *Backend) RunsImages() bool { return false }

// Close releases nothing: sessions own their resources.
func (b *Backend) Close() error { return nil }

// NewSession creates the session's network namespace and state directory.
func (b *Backend) NewSession(ctx context.Context, spec backend.SessionSpec) (backend.Session, error) {
	if spec.ID == "" || strings.ContainsAny(spec.ID, "/\x00") || spec.ID == "." || spec.ID == ".." {
		return nil, &errs.BackendError{Backend: Name, Op: "session", Err: fmt.Errorf("bad session ID %q", spec.ID)}
	}
	dir := filepath.Join(b.stateDir, spec.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "session", Target: spec.ID, Err: err}
	}
	labels, _ := json.Marshal(spec.Labels)
	if err := os.WriteFile(filepath.Join(dir, "labels.json"), labels, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, &errs.BackendError{Backend: Name, Op: "session", Target: spec.ID, Err: err}
	}
	var ns nsHost
	var err error
	if b.rootless {
		ns, err = startHolder(ctx, spec.ID, b.ids)
	} else {
		ns, err = newNetns()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, &errs.BackendError{Backend: Name, Op: "session", Target: spec.ID, Err: err}
	}
	s := &session{b: b, id: spec.ID, labels: spec.Labels, dir: dir, ns: ns,
		containers: map[string]*container{}, ports: map[int]string{}}
	if err := s.writeHosts(); err != nil {
		_ = s.Close(ctx)
		return nil, &errs.BackendError{Backend: Name, Op: "session", Target: spec.ID, Err: err}
	}
	return s, nil
}

// Sweep removes what sessions of dead owners left: their sandboxes (killed
// through their cgroups and by the session mark on their init process),
// cgroups and state directories.
func (b *Backend) Sweep(ctx context.Context, alive func(owner string) bool) (backend.SweepReport, error) {
	var rep backend.SweepReport
	entries, err := os.ReadDir(b.stateDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return rep, nil
		}
		return rep, &errs.BackendError{Backend: Name, Op: "sweep", Err: err}
	}
	var errList []error
	for _, e := range entries {
		if !e.IsDir() || ctx.Err() != nil {
			continue
		}
		dir := filepath.Join(b.stateDir, e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "labels.json"))
		if err != nil {
			continue // not a session directory, or one being created
		}
		var labels map[string]string
		if json.Unmarshal(raw, &labels) != nil || labels[backend.LabelSession] != e.Name() {
			continue
		}
		if alive(labels[backend.LabelOwner]) {
			continue
		}
		id := e.Name()
		inits, holders := sandboxesOf(id)
		for _, p := range append(inits, holders...) {
			_ = unix.Kill(p, unix.SIGKILL)
		}
		subs, _ := os.ReadDir(dir)
		for _, c := range subs {
			if c.IsDir() {
				rep.Containers = append(rep.Containers, c.Name())
			}
		}
		if b.cgroups != nil {
			errList = append(errList, b.cgroups.removeSession(id))
		}
		if err := os.RemoveAll(dir); err != nil {
			errList = append(errList, err)
		}
		rep.Networks = append(rep.Networks, netName(id))
		rep.Sessions = append(rep.Sessions, id)
	}
	// Cgroups whose session left no state here (another state directory
	// that is gone, a removal cut short) are judged by what they hold.
	for _, id := range b.cgroups.abandoned(abandonedAge) {
		if !slices.Contains(rep.Sessions, id) {
			errList = append(errList, b.cgroups.removeSession(id))
			rep.Sessions = append(rep.Sessions, id)
		}
	}
	if err := errors.Join(errList...); err != nil {
		return rep, &errs.BackendError{Backend: Name, Op: "sweep", Err: err}
	}
	return rep, nil
}

// abandonedAge is how long a session's cgroups must have been without a
// process before a sweep removes them as abandoned: a live session's are
// empty only for moments (between making one and starting its init, or
// between a container removed and the next started).
var abandonedAge = 10 * time.Minute

// netName names a session's network namespace in reports.
func netName(session string) string { return "netns:" + session }

// sandboxesOf finds the init processes of a session's sandboxes, and its
// holder process if it is rootless, by the session mark in their
// environment.
func sandboxesOf(session string) (inits, holders []int) {
	mark := sessionEnv + "=" + session
	for _, pid := range procPids() {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		if err != nil {
			continue
		}
		env := splitEnv(raw)
		switch {
		case !slices.Contains(env, mark):
		case slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, holderEnv+"=") }):
			holders = append(holders, pid)
		default:
			inits = append(inits, pid)
		}
	}
	return inits, holders
}

func splitEnv(b []byte) []string { return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00") }

// Resources lists what the backend holds for a session: the directories of
// its containers, their cgroups, every live process of its sandboxes (an
// init process by its session mark, the others by their cgroup), and its
// network namespace while the session's directory exists (and the holder process that
// keeps it, when rootless). Tests use it to prove nothing is left.
func (b *Backend) Resources(session string) (containers, networks []string) {
	dir := filepath.Join(b.stateDir, session)
	entries, err := os.ReadDir(dir)
	if err == nil {
		networks = append(networks, netName(session))
	}
	for _, e := range entries {
		if e.IsDir() {
			containers = append(containers, e.Name())
		}
	}
	inits, holders := sandboxesOf(session)
	for _, p := range inits {
		containers = append(containers, "pid:"+strconv.Itoa(p))
	}
	// A rootless session's holder keeps its network namespace.
	if len(holders) > 0 && len(networks) == 0 {
		networks = append(networks, netName(session))
	}
	for _, d := range b.cgroups.sessionDirs(session) {
		subs, _ := os.ReadDir(d)
		for _, s := range subs {
			if s.IsDir() {
				cg := filepath.Join(d, s.Name())
				containers = append(containers, "cgroup:"+cg)
				for _, p := range readProcs(cg) {
					containers = append(containers, "pid:"+strconv.Itoa(p))
				}
			}
		}
	}
	return containers, networks
}

// hostMemory is the machine's memory, which a limit at or above means no
// limit (cgroupfs.LimitOrZero).
func hostMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// waitOrKill waits for done until grace passes, then runs kill and waits
// again, at most limit.
func waitOrKill(done <-chan struct{}, grace time.Duration, kill func()) bool {
	if grace > 0 {
		select {
		case <-done:
			return true
		case <-time.After(grace):
		}
	}
	kill()
	select {
	case <-done:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

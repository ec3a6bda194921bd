package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sandbox's init process is this very binary, started again by the
// backend with initEnv set (the way runc and moby's reexec do it): package
// init runs it before main, so any program that imports backend/local, a
// test binary included, can start sandboxes without a helper executable.
//
// It starts in fresh mount, PID, UTS and IPC namespaces (and the session's
// network namespace), already in a cgroup of its own beside the
// container's (placement.go) — or, rootless, in a user namespace of its
// own and no cgroup (holder.go) — and then:
//  1. reads its sandboxConfig from fd 3, and opens the container's cgroup,
//     in whose children every process it starts is born;
//  2. builds the container's root: an overlay whose lower layer is the
//     host's root directory (rootless: one per directory, composeRoot) and
//     whose upper layer is a tmpfs, so writes never reach the host; empty
//     tmpfs over /tmp, /run, /root, /home and the
//     other places the host keeps its own state; /proc of the new PID
//     namespace, with the machine-wide parts of /proc and /sys read-only
//     or masked; no device node opening outside /dev; the declared tmpfs,
//     binds and files; read-only if asked, empty directories included;
//  3. pivots into it, sets the host name, starts the main process;
//  4. reports "ok" (or why it failed) on fd 5;
//  5. as PID 1, reaps orphans, forwards signals to the main process, serves
//     requests on the control socket (fd 4) and exits with the main
//     process's status, which makes the kernel kill everything else in the
//     namespace.
const initEnv = "CLEANROOM_SANDBOX_INIT"

// sessionEnv carries the session ID on the init process, so that a sweep
// can tell a sandbox of a dead session from any other process.
const sessionEnv = "CLEANROOM_SANDBOX_SESSION"

// Exit codes of the init process for failures of its own, as docker run
// uses them.
const (
	exitSetup    = 125 // the sandbox could not be built
	exitNotFound = 127 // the main command does not exist
)

func init() {
	if os.Getenv(initEnv) == "1" {
		os.Exit(sandboxMain())
	}
}

// sandboxConfig is what the backend tells the init process.
type sandboxConfig struct {
	// StateDir is the container's directory on the host; its tmpfs (the
	// overlay's upper layer) is mounted there, privately.
	StateDir string   `json:"state_dir"`
	Hostname string   `json:"hostname"`
	ReadOnly bool     `json:"read_only"`
	Hide     []string `json:"hide"` // host paths covered by an empty tmpfs
	// Private are host paths covered by an empty tmpfs after the binds,
	// which may have brought them in: the backend's state directory, with
	// every session's control sockets, under a working directory bound
	// into the sandbox.
	Private []string          `json:"private"`
	Tmpfs   map[string]string `json:"tmpfs"` // path → mount options
	Binds   map[string]string `json:"binds"` // container path → host path, writable
	// Writable paths stay writable under a read-only root, keeping what
	// they hold (an engine volume starts with the image's content too).
	Writable []string          `json:"writable"`
	ROBinds  map[string]string `json:"robinds"` // container path → host path, read-only
	Files    []sandboxFile     `json:"files"`
	Main     process           `json:"main"`
	// KeepCaps are the capabilities the container's processes may have
	// (numbers); NoNewPrivs sets no_new_privs on them.
	KeepCaps   []uintptr `json:"keep_caps"`
	NoNewPrivs bool      `json:"no_new_privs"`
	// Cgroup is the container's cgroup, one directory per v1 controller
	// (one on v2), where every process the init starts goes, each into a
	// child of its own; InitCgroup is the init's, beside it (placement).
	Cgroup     []string `json:"cgroup"`
	InitCgroup []string `json:"init_cgroup"`
	CgroupV2   bool     `json:"cgroup_v2"`
	// Rootless is a sandbox in a user namespace of its own, below the
	// session holder's, and without cgroups: Nproc, if set, limits its
	// processes (and threads) instead, per user (RLIMIT_NPROC, which the
	// kernel counts per user and user namespace; limitProcesses), and for
	// all its users together (the namespace's own limit, nproc.go).
	Rootless bool  `json:"rootless"`
	Nproc    int64 `json:"nproc"`
}

type sandboxFile struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	Mode    uint32 `json:"mode"`
}

// process is a command to start in the container.
type process struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"` // KEY=value, PATH included
	Dir  string   `json:"dir"`
	User string   `json:"user"`
}

func sandboxMain() int {
	// First of all: as the init of a PID namespace, this process would not
	// die of a signal it does not handle, and Go's runtime answers an
	// unhandled SIGTERM by exiting with status 2. Signals that come before
	// the main process exists are passed on once it does.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, forwarded...)
	status := os.NewFile(5, "status")
	fail := func(code int, err error) int {
		fmt.Fprintf(os.Stderr, "cleanroom-sandbox: %v\n", err)
		_ = writeJSONFrame(status, frameReply, reply{ExitCode: code, Err: err.Error()})
		return code
	}
	var cfg sandboxConfig
	configPipe := os.NewFile(3, "config")
	if err := json.NewDecoder(configPipe).Decode(&cfg); err != nil {
		return fail(exitSetup, fmt.Errorf("reading the sandbox config: %w", err))
	}
	// Nothing the init process holds may leak into the container's
	// processes: the config pipe is closed, the control socket and the
	// status pipe, and whatever the runner itself inherited, are
	// close-on-exec.
	configPipe.Close()
	unix.CloseOnExec(4)
	unix.CloseOnExec(5)
	_ = unix.CloseRange(6, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	pl, err := openPlacement(cfg)
	if err != nil {
		return fail(exitSetup, err)
	}
	if err := buildRoot(cfg); err != nil {
		return fail(exitSetup, err)
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fail(exitSetup, fmt.Errorf("setting the host name: %w", err))
	}
	// In a namespace of its own (network "none"), lo starts down; in the
	// session's it is up already. Not fatal: a container without
	// networking still runs.
	_ = loopbackUp()

	r := newReaper(pl)
	go r.loop()
	keep := map[uintptr]bool{}
	for _, c := range cfg.KeepCaps {
		keep[c] = true
	}
	if err := r.startSpawner(keep, cfg.NoNewPrivs); err != nil {
		return fail(exitSetup, err)
	}
	if cfg.Nproc > 0 {
		if err := limitProcesses(cfg.Nproc); err != nil {
			return fail(exitSetup, err)
		}
	}
	main, done, _, err := r.start(cfg.Main, [3]*os.File{devNull(), os.Stdout, os.Stderr}, false, "main")
	if err != nil {
		code := exitSetup
		if errors.Is(err, errNotFound) {
			code = exitNotFound
		}
		return fail(code, err)
	}
	_ = writeJSONFrame(status, frameReply, reply{})
	status.Close()

	go forward(signals, main)
	ln, err := net.FileListener(os.NewFile(4, "control"))
	if err == nil {
		a := &agent{reaper: r, base: cfg.Main}
		go a.serve(ln)
	} else {
		fmt.Fprintf(os.Stderr, "cleanroom-sandbox: control socket: %v\n", err)
	}
	ws := <-done
	return exitStatus(ws)
}

// exitStatus is the shell's convention: the exit code, or 128 + the
// signal that killed the process.
func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// hidden are the host's paths a container sees empty: the host's own
// temporary files, runtime state (sockets of engines and daemons among
// them), home directories, password hashes, SSH host keys and container
// engines' storage are none of the container's business.
var hidden = []string{"/tmp", "/var/tmp", "/run", "/root", "/home",
	"/etc/shadow", "/etc/gshadow", "/etc/ssh", "/var/lib/docker", "/var/lib/containerd"}

// oldRoot is where the host's root stays reachable while the container's
// root is put together, so that paths inside the container resolve in it
// (an absolute symlink such as /var/run → /run must not lead to the host)
// while bind sources still name host paths.
const oldRoot = "/.cleanroom-host"

func buildRoot(cfg sandboxConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	layer := filepath.Join(cfg.StateDir, "fs")
	if err := os.MkdirAll(layer, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", layer, "tmpfs", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mounting the container's layer: %w", err)
	}
	upper, work, root := filepath.Join(layer, "upper"), filepath.Join(layer, "work"), filepath.Join(layer, "root")
	for _, d := range []string{upper, work, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	var composed []string // rootless: the root's mounts, for a read-only root
	if cfg.Rootless {
		var err error
		if composed, err = composeRoot(root, upper, work, append([]string{layer}, append(hidden, cfg.Hide...)...)); err != nil {
			return err
		}
	} else {
		opts := "lowerdir=/,upperdir=" + upper + ",workdir=" + work
		// nodev: root may make device nodes (MKNOD is an engine's default
		// capability), but none opens on the root file system; an engine's
		// device cgroup does it there. /dev gets its devices by binds.
		if err := unix.Mount("overlay", root, "overlay", unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mounting an overlay of the host's root (the local backend needs overlayfs): %w", err)
		}
	}
	if err := os.Mkdir(root+oldRoot, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, root+oldRoot); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	host := func(p string) string { return filepath.Join(oldRoot, p) }

	if err := mountAt("/proc", "proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	// Not recursive: the cgroup filesystems below /sys stay out of reach,
	// so no process can move itself out of its limits. A user namespace
	// may only bind /sys whole, with what is mounted below it:
	// sysReadOnly then makes all of it read-only and covers the cgroups.
	if err := bindFlags(host("/sys"), "/sys", true, cfg.Rootless); err != nil {
		return err
	}
	if cfg.Rootless {
		if err := sysReadOnly(); err != nil {
			return err
		}
		// A process of the sandbox must not make a user namespace: in one
		// it would have the capabilities to leave the time namespace that
		// finds an exec's processes (timens.go). An engine's seccomp
		// profile refuses it too. The limit is this user namespace's own.
		if err := os.WriteFile("/proc/sys/user/max_user_namespaces", []byte("0"), 0); err != nil {
			return fmt.Errorf("forbidding user namespaces in the sandbox: %w", err)
		}
	}
	if err := makeDev(host("/dev")); err != nil {
		return err
	}
	if err := protectKernel(); err != nil {
		return err
	}
	var empty []string // the directories hide covered with a tmpfs
	for _, h := range append(hidden, cfg.Hide...) {
		dir, err := hide(h)
		if err != nil {
			return err
		}
		if dir {
			empty = append(empty, h)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(cfg.Tmpfs)) {
		if err := mountAt(p, "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, tmpfsOptions(cfg.Tmpfs[p])); err != nil {
			return err
		}
	}
	for _, binds := range []struct {
		m  map[string]string
		ro bool
	}{{cfg.Binds, false}, {cfg.ROBinds, true}} {
		for _, p := range slices.Sorted(maps.Keys(binds.m)) {
			if err := bind(host(binds.m[p]), p, binds.ro); err != nil {
				return err
			}
			if err := noDev(p, binds.ro); err != nil {
				return err
			}
		}
	}
	for _, p := range cfg.Private {
		if _, err := hide(p); err != nil {
			return err
		}
	}
	for _, f := range cfg.Files {
		if err := writeFile(f.Path, f.Content, f.Mode); err != nil {
			return fmt.Errorf("copying %s into the container: %w", f.Path, err)
		}
	}
	if err := writeFile("/etc/hostname", []byte(cfg.Hostname+"\n"), 0o644); err != nil {
		return err
	}
	// A bind of a directory onto itself is a mount of its own, whose
	// flags the read-only remount of the root below leaves alone.
	for _, p := range cfg.Writable {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("writable path %s: %w", p, err)
		}
		if err := bind(p, p, false); err != nil {
			return err
		}
	}
	if err := unix.Unmount(oldRoot, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := os.Remove(oldRoot); err != nil {
		return err
	}
	if cfg.ReadOnly {
		for _, p := range append([]string{"/"}, composed...) {
			if err := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
				return fmt.Errorf("making the root read-only (%s): %w", p, err)
			}
		}
		if err := readOnlyEmpty(empty, cfg); err != nil {
			return err
		}
	}
	return nil
}

// readOnlyEmpty makes the empty directories of a read-only root read-only
// too: each is a tmpfs of its own, which the remount of / leaves writable,
// where in an image they are part of the root. A directory the policy
// mounts something at or above (a tmpfs, a bind, a writable path) is
// covered by that mount, which stays as the policy has it.
func readOnlyEmpty(dirs []string, cfg sandboxConfig) error {
	var mounts []string
	for _, m := range []map[string]string{cfg.Tmpfs, cfg.Binds, cfg.ROBinds} {
		for p := range m {
			mounts = append(mounts, resolved(p))
		}
	}
	for _, p := range cfg.Writable {
		mounts = append(mounts, resolved(p))
	}
	for _, d := range dirs {
		rd := resolved(d)
		if slices.ContainsFunc(mounts, func(m string) bool { return rd == m || strings.HasPrefix(rd, m+"/") }) {
			continue
		}
		// A bind remount sets all of the mount's flags: hide's are kept.
		if err := unix.Mount("", d, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", d, err)
		}
	}
	return nil
}

// resolved is p with its symbolic links resolved in the container, as a
// mount at p resolves them.
func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// The parts of /proc and /sys that are the machine's kernel rather than the
// sandbox's, which an engine (runc's defaults) makes read-only or masks.
// The sandbox's /proc is its PID namespace's, but /proc/sys still sets the
// whole machine's kernel, and root writes it whatever its capabilities: a
// sandbox could set kernel.core_pattern to a program of its own, which the
// kernel then runs as the machine's root.
var (
	kernelReadOnly = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	kernelMasked   = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap"}
)

// protectKernel binds kernelReadOnly onto themselves read-only and covers
// kernelMasked: a directory with an empty read-only tmpfs, a file with
// /dev/null. A path this kernel does not have needs neither.
func protectKernel() error {
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, p := range kernelReadOnly {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s: %w", p, err)
		}
		if err := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|flags, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", p, err)
		}
	}
	for _, p := range kernelMasked {
		st, err := os.Lstat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return err
		case st.IsDir():
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|flags, "size=0")
		default:
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	return nil
}

// makeDev gives the container a /dev of its own, as an engine does: the
// harmless character devices of the host, a pts and shm, and no disks.
func makeDev(hostDev string) error {
	// nodev as well: the devices below are binds, mounts of their own.
	if err := mountAt("/dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if err := bind(filepath.Join(hostDev, d), "/dev/"+d, false); err != nil {
			return err
		}
	}
	if err := mountAt("/dev/shm", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return err
	}
	if err := mountAt("/dev/pts", "devpts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	links := map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
	for name, target := range links {
		if err := os.Symlink(target, "/dev/"+name); err != nil {
			return err
		}
	}
	return nil
}

// mountAt creates the mount point (a directory) and mounts there.
func mountAt(target, source, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("creating mount point %s: %w", target, err)
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mounting %s at %s: %w", fstype, target, err)
	}
	return nil
}

// bind mounts a host file or directory at target, recursively.
func bind(src, target string, ro bool) error { return bindFlags(src, target, ro, true) }

func bindFlags(src, target string, ro, recursive bool) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind source: %w", err)
	}
	if st.IsDir() {
		err = os.MkdirAll(target, 0o755)
	} else {
		err = writeFileIfAbsent(target)
	}
	if err != nil {
		return fmt.Errorf("creating mount point %s: %w", target, err)
	}
	flags := uintptr(unix.MS_BIND)
	if recursive {
		flags |= unix.MS_REC
	}
	if err := unix.Mount(src, target, "", flags, ""); err != nil {
		return fmt.Errorf("binding %s at %s: %w", src, target, err)
	}
	if ro {
		if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", target, err)
		}
	}
	return nil
}

// noDev remounts the bind at target so that no device node opens through
// it (read-only too if ro): a node made in a bound host directory must not
// reach the host's devices. A bind remount sets all of the mount's flags.
func noDev(target string, ro bool) error {
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NODEV)
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		return fmt.Errorf("remounting %s without devices: %w", target, err)
	}
	return nil
}

// hide covers a host directory with an empty tmpfs (and says so: dir), or
// a host file with /dev/null; what does not exist needs no hiding.
func hide(target string) (dir bool, err error) {
	// A link is followed inside the container's root (the host's /home
	// may be a link to /data/home): what it points at is what to hide.
	if real, err := filepath.EvalSymlinks(target); err == nil {
		target = real
	}
	st, err := os.Lstat(target)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case st.IsDir():
		return true, mountAt(target, "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
	case st.Mode()&os.ModeSymlink != 0:
		return false, nil // a dangling link: nothing behind it to hide
	default:
		return false, unix.Mount("/dev/null", target, "", unix.MS_BIND, "")
	}
}

// tmpfsOptions turns the engine's option syntax ("rw,size=64m,mode=1777")
// into the kernel's: rw and ro are flags, not data.
func tmpfsOptions(opts string) string {
	var keep []string
	for o := range strings.SplitSeq(opts, ",") {
		if o != "" && o != "rw" && o != "ro" {
			keep = append(keep, o)
		}
	}
	if !strings.Contains(opts, "mode=") {
		keep = append(keep, "mode=1777")
	}
	return strings.Join(keep, ",")
}

func writeFile(path string, content []byte, mode uint32) error {
	if mode == 0 {
		mode = 0o644
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(mode))
	if errors.Is(err, os.ErrPermission) {
		// A rootless sandbox cannot write into a host file (its owner is
		// not mapped there), but may replace it: the overlay keeps the
		// new file, and the host's stays as it was.
		if os.Remove(path) == nil {
			f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(mode))
		}
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The umask must not narrow the mode asked for.
	return os.Chmod(path, os.FileMode(mode))
}

func writeFileIfAbsent(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// loopbackUp brings up lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return setLinkUp(fd, "lo")
}

func setLinkUp(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// forwarded are the signals the init passes on to the main process: those
// a container's stop, or a user, sends to a container.
var forwarded = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}

// forward passes signals on to the main process.
func forward(signals <-chan os.Signal, pid int) {
	for s := range signals {
		_ = unix.Kill(pid, s.(syscall.Signal))
	}
}

func devNull() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	return f
}

// errNotFound says a command's executable does not exist.
var errNotFound = errors.New("executable file not found")

// lookPath finds file in the directories of the PATH of env, as a shell
// would in the container.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if isExecutable(file) {
			return file, nil
		}
		return "", fmt.Errorf("%s: %w", file, errNotFound)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for dir := range strings.SplitSeq(path, ":") {
		if dir == "" {
			dir = "."
		}
		if p := filepath.Join(dir, file); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s in $PATH (%s): %w", file, path, errNotFound)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// composeRoot puts a copy-on-write view of the host's root together at
// root in a user namespace, where an overlay of / is refused: the mounts
// below it are locked to it there, and overlayfs will not take a lower
// layer with locked mounts inside. So each directory of / gets an overlay
// of its own (the upper and work directories under upper and work), and a
// directory with mounts below it (/var, over /var/lib/docker) is made
// anew, on the root's tmpfs, and put together from its entries the same
// way. skip are the paths whose content is not the container's (the hidden
// ones, the layer itself): an empty directory stands for them, and /proc,
// /sys and /dev, mounted afterwards. Host files keep their owners, whom the
// namespace does not map: the container may read them and replace them
// (new files are its own), but not write into them.
//
// It returns the mounts it made, as paths in the container.
func composeRoot(root, upper, work string, skip []string) ([]string, error) {
	// pivot_root wants the new root to be a mount.
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("binding the container's root: %w", err)
	}
	mounts, err := mountPoints()
	if err != nil {
		return nil, err
	}
	skip = append(skip, "/proc", "/sys", "/dev")
	c := &composer{root: root, upper: upper, work: work, mounts: mounts, skip: skip}
	if err := c.dir("/"); err != nil {
		return nil, err
	}
	return c.made, nil
}

type composer struct {
	root, upper, work string
	mounts, skip      []string
	made              []string
}

// dir puts the entries of host directory p (already a directory at p in
// the root) in place.
func (c *composer) dir(p string) error {
	entries, err := os.ReadDir(p)
	if errors.Is(err, os.ErrPermission) {
		return nil // not the user's to read: empty, as a hidden path
	}
	if err != nil {
		return fmt.Errorf("reading %s for the container's root: %w", p, err)
	}
	for _, e := range entries {
		src := filepath.Join(p, e.Name())
		dst := filepath.Join(c.root, src)
		st, err := os.Lstat(src)
		if err != nil {
			continue // gone meanwhile
		}
		switch {
		case st.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err == nil {
				err = os.Symlink(target, dst)
			}
			if err != nil {
				return fmt.Errorf("copying link %s: %w", src, err)
			}
		case st.IsDir():
			if err := mkdirLike(dst, st); err != nil {
				return err
			}
			switch {
			case slices.Contains(c.skip, src):
			case c.hasMountsBelow(src):
				if err := c.dir(src); err != nil {
					return err
				}
			default:
				if err := c.overlay(src, dst); err != nil {
					return err
				}
			}
		case st.Mode().IsRegular():
			if err := c.file(src, dst, st); err != nil {
				return err
			}
		}
		// Sockets, FIFOs and devices directly in such a directory are
		// not the container's.
	}
	return nil
}

// overlay mounts a copy-on-write view of host directory src at dst; a
// directory overlayfs refuses (a file system it cannot take as a lower
// layer) is bound read-only instead.
func (c *composer) overlay(src, dst string) error {
	up, wk := filepath.Join(c.upper, src), filepath.Join(c.work, src)
	for _, d := range []string{up, wk} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The overlay's top directory shows the upper one's owner and mode:
	// the host's mode at least (its owner may not be mapped here).
	if st, err := os.Stat(src); err == nil {
		_ = os.Chmod(up, st.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSticky|os.ModeSetuid))
	}
	// userxattr: overlayfs keeps its marks in user.* attributes, which a
	// user namespace may write.
	opts := "userxattr,lowerdir=" + src + ",upperdir=" + up + ",workdir=" + wk
	if err := unix.Mount("overlay", dst, "overlay", unix.MS_NODEV, opts); err != nil {
		if err := bindFlags(src, dst, true, true); err != nil {
			return fmt.Errorf("neither an overlay nor a bind of %s: %w", src, err)
		}
	}
	c.made = append(c.made, src)
	return nil
}

// maxCopied is the largest file composeRoot copies rather than binds.
const maxCopied = 1 << 20

// file puts a file of a directory put together entry by entry in place:
// a copy, the sandbox's own to replace or change, as on the overlay of a
// whole directory (/etc/hosts, /etc/resolv.conf and /etc/hostname are
// mounts of their own in a container, which makes /etc such a directory
// there); a file too large to copy, or not the user's to read, is bound
// read-only.
func (c *composer) file(src, dst string, st os.FileInfo) error {
	if st.Size() <= maxCopied {
		if b, err := os.ReadFile(src); err == nil {
			return writeFile(dst, b, uint32(st.Mode().Perm()))
		}
	}
	if err := writeFileIfAbsent(dst); err != nil {
		return err
	}
	if err := bindFlags(src, dst, true, false); err != nil {
		return err
	}
	c.made = append(c.made, src)
	return nil
}

// mkdirLike makes directory dst with the mode of the host's st, set-group-ID
// and sticky bits included (the umask and mkdir drop them).
func mkdirLike(dst string, st os.FileInfo) error {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	return os.Chmod(dst, st.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSticky|os.ModeSetuid))
}

func (c *composer) hasMountsBelow(dir string) bool {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	return slices.ContainsFunc(c.mounts, func(m string) bool { return strings.HasPrefix(m, prefix) })
}

// mountPoints lists the mount points of this mount namespace.
func mountPoints() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 4 {
			out = append(out, unescapeMountPath(f[4]))
		}
	}
	return out, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// spareThreads is how many idle threads a rootless init makes before its
// process limit is set (limitProcesses).
const spareThreads = 8

// limitProcesses sets a rootless sandbox's process limit: RLIMIT_NPROC,
// which its processes inherit, and which the kernel counts per user in the
// sandbox's own user namespace, threads included. The init is root there
// like the container's processes, so its threads count too, and Go makes a
// thread whenever one is short; a fork bomb that used up the limit would
// then take the init down with it. So the init first makes spare threads
// (Go keeps an idle thread for reuse), and the limit is the policy's plus
// the threads it then has: the container's processes get the policy's
// number, and the init does not need a thread it cannot have.
func limitProcesses(n int64) error {
	var ready, release sync.WaitGroup
	ready.Add(spareThreads)
	release.Add(1)
	for range spareThreads {
		go func() {
			runtime.LockOSThread() // a thread of its own for each, at once
			ready.Done()
			release.Wait()
			runtime.UnlockOSThread()
		}()
	}
	ready.Wait()
	release.Done()
	threads, err := threadCount()
	if err != nil {
		return fmt.Errorf("setting the process limit: %w", err)
	}
	lim := &unix.Rlimit{Cur: uint64(n + threads), Max: uint64(n + threads)}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, lim); err != nil {
		return fmt.Errorf("setting the process limit: %w", err)
	}
	return nil
}

func threadCount() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no thread count in /proc/self/status")
}

// sysReadOnly makes a rootless sandbox's /sys read-only with everything
// mounted below it (the bind brought them along: a user namespace binds
// /sys only whole), and covers the cgroup filesystems with an empty
// read-only tmpfs, as root's sandbox has none: a cgroup delegated to the
// runner's user (systemd's user@UID.service) would be the sandbox's to
// write otherwise.
func sysReadOnly() error {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(-1, "/sys", unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("making /sys read-only: %w", err)
	}
	if st, err := os.Stat("/sys/fs/cgroup"); err == nil && st.IsDir() {
		if err := unix.Mount("tmpfs", "/sys/fs/cgroup", "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=0555"); err != nil {
			return fmt.Errorf("covering /sys/fs/cgroup: %w", err)
		}
	}
	return nil
}

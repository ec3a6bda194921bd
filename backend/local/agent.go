package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/signal"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reaper is PID 1's duty: it waits for every child, its own and the
// orphans the kernel hands it, and delivers each exit status to whoever
// started that process. Processes are started through it (start) so that a
// child that exits at once cannot be reaped before anyone waits for it.
type reaper struct {
	pl      *placement // where processes go in the cgroup tree; nil: nowhere (rootless)
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
	early   map[int]syscall.WaitStatus // reaped before start registered them
	spawn   chan spawnRequest
}

type spawnRequest struct {
	p      process
	files  [3]*os.File
	group  bool   // a process group of its own (execs: as a shell gives each command)
	cgroup string // the child of the container's cgroup it is born in
	reply  chan spawnResult
}

type spawnResult struct {
	pid  int
	done <-chan syscall.WaitStatus
	tns  *timeNS // without cgroups: the exec's time namespace (see timens.go)
	err  error
}

func newReaper(pl *placement) *reaper {
	return &reaper{pl: pl, waiting: map[int]chan syscall.WaitStatus{}, early: map[int]syscall.WaitStatus{}}
}

func (r *reaper) loop() {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, unix.SIGCHLD)
	r.reap() // a child may have exited before Notify
	for range ch {
		r.reap()
	}
}

func (r *reaper) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		if ch, ok := r.waiting[pid]; ok {
			ch <- ws
			delete(r.waiting, pid)
		} else {
			r.early[pid] = ws
		}
		r.mu.Unlock()
	}
}

// startSpawner starts the one thread every process of the container is
// forked from. Capabilities outside keep are dropped from its bounding set
// and no_new_privs is set on it: both are attributes of a thread, which
// its children inherit, so every process of the container gets them while
// the init process itself keeps what it needs to set up users.
func (r *reaper) startSpawner(keep map[uintptr]bool, noNewPrivs bool) error {
	r.spawn = make(chan spawnRequest)
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: the thread's attributes are the container's.
		runtime.LockOSThread()
		for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
			if keep[c] {
				continue
			}
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
				ready <- fmt.Errorf("dropping capability %d: %w", c, err)
				return
			}
		}
		if noNewPrivs {
			if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
				ready <- fmt.Errorf("setting no_new_privs: %w", err)
				return
			}
		}
		ready <- nil
		for req := range r.spawn {
			var res spawnResult
			if r.pl == nil && req.group {
				// Before the fork, on this thread: the namespace its
				// next child is born in.
				res.tns = newExecTimeNS()
			}
			res.pid, res.done, res.err = r.forkExec(req)
			req.reply <- res
		}
	}()
	return <-ready
}

// start starts a process in the container, in child cgroup of the
// container's cgroup; done delivers its exit status. An exec (group) of a
// sandbox without cgroups is born in a time namespace of its own instead,
// tns, which the caller closes once it is done with the process.
func (r *reaper) start(p process, files [3]*os.File, group bool, cgroup string) (pid int, done <-chan syscall.WaitStatus, tns *timeNS, err error) {
	if r.spawn == nil {
		return 0, nil, nil, errors.New("the container's process spawner is not running")
	}
	reply := make(chan spawnResult, 1)
	r.spawn <- spawnRequest{p: p, files: files, group: group, cgroup: cgroup, reply: reply}
	res := <-reply
	if res.err != nil {
		res.tns.Close()
		res.tns = nil
	}
	return res.pid, res.done, res.tns, res.err
}

func (r *reaper) forkExec(req spawnRequest) (int, <-chan syscall.WaitStatus, error) {
	p := req.p
	if len(p.Argv) == 0 {
		return 0, nil, errors.New("no command given")
	}
	cred, home, err := credential(p.User)
	if err != nil {
		return 0, nil, err
	}
	env := p.Env
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	path, err := lookPath(p.Argv[0], env)
	if err != nil {
		return 0, nil, err
	}
	dir := p.Dir
	if dir == "" {
		dir = "/"
	}
	var fds []uintptr
	for _, f := range req.files {
		if f == nil {
			return 0, nil, errors.New("missing standard stream")
		}
		fds = append(fds, f.Fd())
	}
	attr := &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: fds,
		Sys:   &syscall.SysProcAttr{Credential: cred, Setpgid: req.group},
	}
	fd, leave, err := r.pl.enter(req.cgroup)
	if err != nil {
		return 0, nil, err
	}
	defer leave()
	if fd >= 0 {
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, fd
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, p.Argv, attr)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) && dirMissing(dir) {
			return 0, nil, fmt.Errorf("working directory %s: %w", dir, fs.ErrNotExist)
		}
		return 0, nil, fmt.Errorf("starting %s: %w", p.Argv[0], err)
	}
	ch := make(chan syscall.WaitStatus, 1)
	if ws, ok := r.early[pid]; ok {
		ch <- ws
		delete(r.early, pid)
	} else {
		r.waiting[pid] = ch
	}
	return pid, ch, nil
}

func dirMissing(dir string) bool {
	st, err := os.Stat(dir)
	return err != nil || !st.IsDir()
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// credential resolves "user[:group]" (names or numbers) in the container's
// /etc/passwd and /etc/group, as an engine does; "" is root. A number
// without a passwd entry runs with group 0.
func credential(spec string) (*syscall.Credential, string, error) {
	if spec == "" {
		spec = "0"
	}
	name, group, hasGroup := strings.Cut(spec, ":")
	cred := &syscall.Credential{}
	home := "/"
	if u, err := lookupUser(name); err == nil {
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid, home = uint32(uid), uint32(gid), u.HomeDir
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(g) != cred.Gid {
					cred.Groups = append(cred.Groups, uint32(g))
				}
			}
		}
	} else if uid, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
		cred.Uid = uint32(uid)
	} else {
		return nil, "", fmt.Errorf("user %q: no such user in the container's /etc/passwd", name)
	}
	if hasGroup {
		if g, err := user.LookupGroup(group); err == nil {
			gid, _ := strconv.ParseUint(g.Gid, 10, 32)
			cred.Gid = uint32(gid)
		} else if gid, nerr := strconv.ParseUint(group, 10, 32); nerr == nil {
			cred.Gid = uint32(gid)
		} else {
			return nil, "", fmt.Errorf("group %q: no such group in the container's /etc/group", group)
		}
		cred.Groups = nil
	}
	if cred.Groups == nil {
		cred.Groups = []uint32{}
	}
	// A rootless sandbox with a single user may not call setgroups (see
	// idMap.write): its processes keep the init's groups, which are none.
	if setgroupsDenied() {
		if cred.Uid != 0 || cred.Gid != 0 {
			return nil, "", fmt.Errorf("user %q: this sandbox's user namespace has root as its only user (the runner is not root, and has no subordinate ids to map)", spec)
		}
		cred.Groups, cred.NoSetGroups = nil, true
	}
	return cred, home, nil
}

func lookupUser(name string) (*user.User, error) {
	if _, err := strconv.Atoi(name); err == nil {
		return user.LookupId(name)
	}
	return user.Lookup(name)
}

// agent serves the runner's requests on the control socket.
type agent struct {
	reaper *reaper
	base   process // the main process: execs inherit its env, dir and user
}

func (a *agent) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go a.handle(conn)
	}
}

func (a *agent) handle(conn net.Conn) {
	defer conn.Close()
	kind, data, err := readFrame(conn)
	if err != nil || kind != frameRequest {
		return
	}
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		_ = writeJSONFrame(conn, frameReply, reply{Err: "bad request: " + err.Error()})
		return
	}
	switch req.Op {
	case "exec":
		a.exec(conn, req)
	case "write":
		blocking <- struct{}{}
		err := writeFile(req.Path, req.Content, req.Mode)
		<-blocking
		_ = writeJSONFrame(conn, frameReply, replyErr(err))
	case "read":
		blocking <- struct{}{}
		b, err := readFile(req.Path)
		<-blocking
		rep := replyErr(err)
		rep.Content = b
		rep.NotFound = errors.Is(err, fs.ErrNotExist)
		_ = writeJSONFrame(conn, frameReply, rep)
	default:
		_ = writeJSONFrame(conn, frameReply, reply{Err: "unknown request " + strconv.Quote(req.Op)})
	}
}

// blocking bounds the agent's file reads and writes in flight. Each holds
// a thread for as long as it takes, and Go makes another thread for
// what else must run; a rootless sandbox's threads count against its
// process limit (limitProcesses), so many at once, with the limit full,
// would leave the init without a thread it needs.
var blocking = make(chan struct{}, 2)

func replyErr(err error) reply {
	if err != nil {
		return reply{Err: err.Error()}
	}
	return reply{}
}

// readFile reads a regular file of the container. What the container put
// at the path is not trusted: a FIFO would block the init (hence the
// non-blocking open), a device or a file growing without end would fill
// it (hence the type check on what was opened, and the limit).
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	const limit = maxFrame / 2
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s: more than the %d bytes that can be copied", path, limit)
	}
	return b, nil
}

// exec runs a command and streams its output. The runner ends it early by
// sending frameKill or by going away; either kills every process in the
// exec's cgroup: its whole tree, and what left it (without cgroups: its
// time namespace, timens.go).
func (a *agent) exec(conn net.Conn, req request) {
	var wmu sync.Mutex
	send := func(kind byte, b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = writeFrame(conn, kind, b)
	}
	sendReply := func(r reply) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = writeJSONFrame(conn, frameReply, r)
	}

	p := process{Argv: req.Cmd, Env: mergeEnv(a.base.Env, req.Env), Dir: a.base.Dir, User: a.base.User}
	if req.WorkDir != "" {
		p.Dir = req.WorkDir
	}
	if req.User != "" {
		p.User = req.User
	}
	stdin := devNull()
	var stdinW *os.File
	if req.HasStdin {
		r, w, err := os.Pipe()
		if err != nil {
			sendReply(reply{Err: err.Error()})
			return
		}
		stdin, stdinW = r, w
	}
	outR, outW, err1 := os.Pipe()
	errR, errW, err2 := os.Pipe()
	if err := errors.Join(err1, err2); err != nil {
		sendReply(reply{Err: err.Error()})
		return
	}
	cgroup := a.reaper.pl.acquire()
	defer a.reaper.pl.release(cgroup)
	pid, done, tns, err := a.reaper.start(p, [3]*os.File{stdin, outW, errW}, true, cgroup)
	defer tns.Close()
	stdin.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		if stdinW != nil {
			stdinW.Close()
		}
		code := exitSetup
		if errors.Is(err, errNotFound) {
			code = exitNotFound
		}
		sendReply(reply{ExitCode: code, Err: err.Error()})
		return
	}
	if stdinW != nil {
		go func() {
			_, _ = stdinW.Write(req.Stdin)
			stdinW.Close()
		}()
	}
	var readers sync.WaitGroup
	for _, s := range []struct {
		r    *os.File
		kind byte
	}{{outR, frameStdout}, {errR, frameStderr}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.r.Read(buf)
				if n > 0 {
					send(s.kind, buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
	// Whatever the runner sends next (a kill, or EOF because it went
	// away) ends the command.
	killed := make(chan struct{})
	go func() {
		_, _, _ = readFrame(conn)
		close(killed)
	}()

	var ws syscall.WaitStatus
	wasKilled := false
	select {
	case ws = <-done:
	case <-killed:
		wasKilled = true
		// Everything the command started, detached or not.
		switch {
		case a.reaper.pl != nil:
			a.reaper.pl.kill(cgroup)
		case tns != nil:
			killTimeNS(tns.name)
		default:
			killTree(pid)
		}
		ws = <-done
	}
	// A background child may hold the pipes open; once the command itself
	// has exited, its output is what is already written.
	finished := make(chan struct{})
	go func() { readers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(50 * time.Millisecond):
		outR.Close()
		errR.Close()
		<-finished
	}
	outR.Close()
	errR.Close()
	sendReply(reply{ExitCode: exitStatus(ws), Killed: wasKilled})
}

// mergeEnv lays extra over base (KEY=value lists), sorted by key for a
// stable order.
func mergeEnv(base []string, extra map[string]string) []string {
	m := map[string]string{}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

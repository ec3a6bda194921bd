package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A runner that is not root cannot make a network namespace, nor enter one
// that a user namespace of its own made: setns needs CAP_SYS_ADMIN in the
// caller's user namespace too, and a process of several threads cannot
// change its user namespace. So a rootless session has a holder: this binary
// again, started in a new user namespace (where it is root) and a new
// network namespace, and it does there what the root runner's thread does
// (netns): it starts the session's sandboxes, as its children, and makes the
// runner's sockets, which it hands over (SCM_RIGHTS): a socket belongs to the
// namespace it was made in, whichever process uses it.
//
// Its user namespace maps root to the runner's user and, when newuidmap and
// a range in /etc/subuid allow (idmap.go), uids 1 to 65535 to that range, so
// that a service can run as a user of its own (PostgreSQL must not run as
// root). Each sandbox gets a user namespace of its own below it, with the
// same ids: there its processes count against the sandbox's process limit
// (RLIMIT_NPROC counts per user and user namespace) and not the session's.
//
// The holder starts in two steps, as holderEnv says. A process that enters a
// user namespace gets its capabilities when it executes a program as root
// there, and it is root only once the namespace has its map, which only the
// runner can write (newuidmap works on another process): so the first step
// waits on fd 4 for the runner's word that the map is written, then executes
// this binary again.
const holderEnv = "CLEANROOM_SANDBOX_HOLDER"

func init() {
	switch os.Getenv(holderEnv) {
	case "1":
		os.Exit(holderWaitForMap())
	case "2":
		os.Exit(holderMain())
	}
}

// holderMsg is a message between the runner and the holder, on a
// SOCK_SEQPACKET pair: a request (Op set), its reply (same ID), or news of
// a sandbox that exited (Exited). Files travel beside it.
type holderMsg struct {
	ID uint64 `json:"id,omitempty"`
	Op string `json:"op,omitempty"` // "start", "dial", "listen"; "ready" from the holder once

	Args    []string `json:"args,omitempty"` // start
	Env     []string `json:"env,omitempty"`
	OwnNet  bool     `json:"own_net,omitempty"`
	Nproc   int64    `json:"nproc,omitempty"`
	Network string   `json:"network,omitempty"` // dial, listen
	Address string   `json:"address,omitempty"`

	Pid    int    `json:"pid,omitempty"`
	Err    string `json:"err,omitempty"`
	Exited bool   `json:"exited,omitempty"`
	Code   int    `json:"code,omitempty"`
}

// maxHolderMsg bounds a message (what they carry is a few names and
// numbers); a sandbox's config goes through a pipe,
// not through here.
const maxHolderMsg = 64 << 10

func sendMsg(fd int, m holderMsg, files ...*os.File) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxHolderMsg {
		return fmt.Errorf("message of %d bytes is too large", len(b))
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(fd, b, oob, nil, 0)
}

// recvMsg reads one message and the files that came with it; io.EOF-like
// errors mean the other side is gone.
func recvMsg(fd int) (holderMsg, []*os.File, error) {
	buf := make([]byte, maxHolderMsg)
	oob := make([]byte, unix.CmsgSpace(8*4))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return holderMsg{}, nil, err
		}
		if n == 0 {
			return holderMsg{}, nil, errHolderGone
		}
		var files []*os.File
		if oobn > 0 {
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err == nil {
				for _, c := range cmsgs {
					fds, err := unix.ParseUnixRights(&c)
					if err != nil {
						continue
					}
					for _, f := range fds {
						files = append(files, os.NewFile(uintptr(f), "fd"))
					}
				}
			}
		}
		var m holderMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil || flags&unix.MSG_TRUNC != 0 {
			closeAll(files)
			return holderMsg{}, nil, fmt.Errorf("%w: %v", errBadMsg, err)
		}
		if flags&unix.MSG_CTRUNC != 0 {
			// Files that did not all arrive: the message fails, the
			// connection goes on.
			closeAll(files)
			files = nil
			if m.Err == "" {
				m.Err = "the files sent with the message did not all arrive"
			}
		}
		return m, files, nil
	}
}

var errHolderGone = errors.New("the session's holder process is gone")

// errBadMsg is a message that could not be read; the ones after it can.
var errBadMsg = errors.New("a message that could not be read")

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// holder is the runner's side of a rootless session's holder process.
type holder struct {
	t   *thread // it was forked here: its parent-death signal's anchor
	cmd *exec.Cmd
	fd  int // the runner's end of the socket pair

	wmu     sync.Mutex // orders writes; with it, closed
	closed  bool       // the fd is closed
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan holderReply
	exits   map[int]chan int // by pid
	early   map[int]int      // exits that came before start registered the pid
	gone    chan struct{}
	goneErr error
	stderr  *tailBuffer
}

type holderReply struct {
	m     holderMsg
	files []*os.File
}

// startHolder starts a session's holder, gives its user namespace the ids
// of m, and waits until it is ready.
func startHolder(ctx context.Context, session string, m idMap) (*holder, error) {
	t, err := newThread(func() error { return nil })
	if err != nil {
		return nil, err
	}
	h, err := launchHolder(ctx, t, session, m)
	if err != nil {
		t.Close()
		return nil, err
	}
	return h, nil
}

func launchHolder(ctx context.Context, t *thread, session string, m idMap) (*holder, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	theirs := os.NewFile(uintptr(pair[1]), "holder")
	defer theirs.Close()
	mapR, mapW, err := os.Pipe()
	if err != nil {
		unix.Close(pair[0])
		return nil, err
	}
	defer mapR.Close()
	defer mapW.Close()
	h := &holder{t: t, fd: pair[0], pending: map[uint64]chan holderReply{}, exits: map[int]chan int{},
		early: map[int]int{}, gone: make(chan struct{}), stderr: &tailBuffer{max: 4 << 10}}
	h.cmd = &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"cleanroom-holder", session},
		Env:        []string{holderEnv + "=1", sessionEnv + "=" + session},
		Stderr:     h.stderr,
		ExtraFiles: []*os.File{theirs, mapR}, // fds 3, 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNET,
			Pdeathsig:  syscall.SIGKILL,
			Setsid:     true, // no terminal: see initCommand
		},
	}
	err = t.do(h.cmd.Start)
	// The holder's ends are its own now: with them closed here, its exit
	// is an end of file on ours, not a wait forever.
	theirs.Close()
	mapR.Close()
	if err != nil {
		unix.Close(h.fd)
		return nil, fmt.Errorf("starting the session's holder in a user namespace: %w", err)
	}
	fail := func(err error) (*holder, error) {
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
		unix.Close(h.fd)
		tail := strings.TrimSpace(h.stderr.String())
		if tail == "" && h.cmd.ProcessState != nil {
			tail = "it ended: " + h.cmd.ProcessState.String()
		}
		return nil, fmt.Errorf("%w (holder: %s)", err, tail)
	}
	if err := m.write(h.cmd.Process.Pid); err != nil {
		return fail(err)
	}
	if _, err := mapW.Write([]byte{1}); err != nil {
		return fail(fmt.Errorf("the session's holder went before its user namespace was mapped: %w", err))
	}
	ready := make(chan error, 1)
	go func() {
		msg, files, err := recvMsg(h.fd)
		closeAll(files)
		if err == nil && msg.Op != "ready" {
			err = fmt.Errorf("unexpected message %q", msg.Op)
		}
		if err == nil && msg.Err != "" {
			err = errors.New(msg.Err)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fail(fmt.Errorf("the session's holder did not start: %w", err))
		}
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	go h.read()
	return h, nil
}

// read delivers replies to their requests and exits to their waiters until
// the holder goes.
func (h *holder) read() {
	for {
		m, files, err := recvMsg(h.fd)
		if errors.Is(err, errBadMsg) {
			continue // its caller times out with its context
		}
		if err != nil {
			h.mu.Lock()
			h.goneErr = err
			close(h.gone)
			// Its sandboxes died with it, of their parent-death signal.
			for pid, ch := range h.exits {
				ch <- 128 + int(syscall.SIGKILL)
				delete(h.exits, pid)
			}
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		if m.Exited {
			if ch, ok := h.exits[m.Pid]; ok {
				ch <- m.Code
				delete(h.exits, m.Pid)
			} else {
				h.early[m.Pid] = m.Code
			}
		} else if ch, ok := h.pending[m.ID]; ok {
			ch <- holderReply{m, files}
			delete(h.pending, m.ID)
			files = nil
		}
		h.mu.Unlock()
		closeAll(files) // a reply nobody waits for any more
	}
}

// call sends a request with files and waits for its reply.
func (h *holder) call(ctx context.Context, m holderMsg, files ...*os.File) (holderMsg, []*os.File, error) {
	ch := make(chan holderReply, 1)
	h.mu.Lock()
	select {
	case <-h.gone:
		h.mu.Unlock()
		return holderMsg{}, nil, errHolderGone
	default:
	}
	h.nextID++
	m.ID = h.nextID
	h.pending[m.ID] = ch
	h.mu.Unlock()
	h.wmu.Lock()
	err := errHolderGone
	if !h.closed {
		err = sendMsg(h.fd, m, files...)
	}
	h.wmu.Unlock()
	if err != nil {
		h.forget(m.ID, ch)
		return holderMsg{}, nil, err
	}
	select {
	case r := <-ch:
		if r.m.Err != "" {
			closeAll(r.files)
			return r.m, nil, errors.New(r.m.Err)
		}
		return r.m, r.files, nil
	case <-h.gone:
		h.forget(m.ID, ch)
		return holderMsg{}, nil, errHolderGone
	case <-ctx.Done():
		h.forget(m.ID, ch)
		return holderMsg{}, nil, ctx.Err()
	}
}

// forget gives up on request id, closing what its reply brought if it
// came meanwhile: after forget, read sends nothing more to ch.
func (h *holder) forget(id uint64, ch chan holderReply) {
	h.mu.Lock()
	delete(h.pending, id)
	h.mu.Unlock()
	select {
	case r := <-ch:
		closeAll(r.files)
	default:
	}
}

func (h *holder) start(spec initSpec) (int, <-chan int, error) {
	// An exit that arrives before the pid is registered waits in early.
	m, _, err := h.call(context.Background(), holderMsg{Op: "start", Args: spec.args, Env: spec.env, OwnNet: spec.ownNet, Nproc: spec.nproc}, spec.files...)
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan int, 1)
	h.mu.Lock()
	if code, ok := h.early[m.Pid]; ok {
		ch <- code
		delete(h.early, m.Pid)
	} else if h.goneErr != nil {
		ch <- 128 + int(syscall.SIGKILL) // died with the holder, before it was registered
	} else {
		h.exits[m.Pid] = ch
	}
	h.mu.Unlock()
	return m.Pid, ch, nil
}

func (h *holder) dial(ctx context.Context, network, address string) (net.Conn, error) {
	f, err := h.socket(ctx, "dial", network, address)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileConn(f)
}

func (h *holder) listen(ctx context.Context, network, address string) (net.Listener, error) {
	f, err := h.socket(ctx, "listen", network, address)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileListener(f)
}

// socket asks the holder for a socket it dialed or listens on.
func (h *holder) socket(ctx context.Context, op, network, address string) (*os.File, error) {
	_, files, err := h.call(ctx, holderMsg{Op: op, Network: network, Address: address})
	if err != nil {
		return nil, err
	}
	if len(files) != 1 {
		closeAll(files)
		return nil, errors.New("the holder sent no socket")
	}
	return files[0], nil
}

// Close ends the holder (its sandboxes, started with its death as their
// parent-death signal, go with it) and the thread that started it.
func (h *holder) Close() error {
	unix.Shutdown(h.fd, unix.SHUT_RDWR) // the holder's reads end: it exits
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
	<-h.gone // read has returned: the fd is no longer read
	h.wmu.Lock()
	h.closed = true
	unix.Close(h.fd)
	h.wmu.Unlock()
	return h.t.Close()
}

// tailBuffer keeps the last max bytes written to it: what the holder said
// before it failed.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// holderWaitForMap is the holder's first step: wait until the runner has
// written the user namespace's map, then become root in it by executing
// this binary again.
func holderWaitForMap() int {
	var b [1]byte
	if n, _ := os.NewFile(4, "map").Read(b[:]); n != 1 {
		return 1 // the runner went away
	}
	unix.CloseOnExec(4)
	env := []string{holderEnv + "=2"}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != holderEnv {
			env = append(env, kv)
		}
	}
	err := unix.Exec("/proc/self/exe", os.Args, env)
	fmt.Fprintf(os.Stderr, "executing the holder as root of its user namespace: %v\n", err)
	return 1
}

// holderMain serves the runner until it goes.
func holderMain() int {
	const fd = 3
	ready := func(err error) int {
		m := holderMsg{Op: "ready"}
		if err != nil {
			m.Err = err.Error()
		}
		_ = sendMsg(fd, m)
		if err != nil {
			return 1
		}
		return 0
	}
	unix.CloseOnExec(fd)
	if os.Geteuid() != 0 {
		return ready(fmt.Errorf("not root in the user namespace (uid %d): its map was not written", os.Geteuid()))
	}
	if err := loopbackUp(); err != nil {
		return ready(fmt.Errorf("bringing up lo: %w", err))
	}
	// The sandboxes are root in user namespaces below this one, which do
	// not own the network namespace: without this, binding a port below
	// 1024 (a web server on 80) would need a capability they cannot have
	// there. The namespace has only loopback, so no port is privileged.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0"), 0); err != nil {
		return ready(fmt.Errorf("allowing every port in the session's network namespace: %w", err))
	}
	ids, err := readIDMaps()
	if err != nil {
		return ready(err)
	}
	spawner, err := newThread(func() error { return nil })
	if err != nil {
		return ready(err)
	}
	s := &holderServer{spawner: spawner, ids: ids, owners: owners{max: ids.uid.size() - 1, used: map[int]bool{}}}
	if ready(nil) != 0 {
		return 1
	}
	for {
		m, files, err := recvMsg(fd)
		if errors.Is(err, errBadMsg) {
			continue
		}
		if err != nil {
			// The runner is gone: so are the sandboxes, by their
			// parent-death signal, when this process exits.
			return 0
		}
		go s.handle(m, files)
	}
}

// holderServer carries out the runner's requests inside the namespaces.
type holderServer struct {
	spawner *thread // sandboxes are forked here (their parent-death signal's anchor)
	ids     idMaps
	owners  owners
	wmu     sync.Mutex
}

func (s *holderServer) send(m holderMsg, files ...*os.File) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = sendMsg(3, m, files...)
}

func (s *holderServer) handle(m holderMsg, files []*os.File) {
	defer closeAll(files)
	reply := holderMsg{ID: m.ID}
	fail := func(err error) { reply.Err = err.Error(); s.send(reply) }
	if m.Err != "" {
		fail(errors.New(m.Err))
		return
	}
	switch m.Op {
	case "start":
		if len(files) != 5 {
			fail(fmt.Errorf("start needs 5 files, got %d", len(files)))
			return
		}
		cmd := initCommand(initSpec{args: m.Args, env: m.Env, files: files})
		sys := cmd.SysProcAttr
		sys.Cloneflags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
		if m.OwnNet {
			sys.Cloneflags |= unix.CLONE_NEWNET
		}
		sys.UidMappings, sys.GidMappings = s.ids.uid.identity(), s.ids.gid.identity()
		sys.GidMappingsEnableSetgroups = s.ids.setgroups
		start := cmd.Start
		owner := 0
		if m.Nproc > 0 && s.ids.uid.size() > 1 {
			owner = s.owners.take()
			if owner == 0 {
				fail(errors.New("no user id left to own another sandbox's user namespace"))
				return
			}
			// Root in the sandbox, though its namespace's owner is not.
			sys.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: !s.ids.setgroups}
			start = func() error { return asOwner(owner, m.Nproc+initAllowance, cmd.Start) }
		}
		if err := s.spawner.do(start); err != nil {
			s.owners.give(owner)
			fail(fmt.Errorf("starting the sandbox: %w", err))
			return
		}
		pid := cmd.Process.Pid
		exited := waitCode(cmd)
		reply.Pid = pid
		s.send(reply)
		go func() {
			code := <-exited
			s.owners.give(owner)
			s.send(holderMsg{Exited: true, Pid: pid, Code: code})
		}()
	case "dial", "listen":
		var sock interface{ File() (*os.File, error) }
		var closer interface{ Close() error }
		if m.Op == "dial" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var d net.Dialer
			conn, err := d.DialContext(ctx, m.Network, m.Address)
			if err != nil {
				fail(err)
				return
			}
			closer = conn
			sock, _ = conn.(interface{ File() (*os.File, error) })
		} else {
			ln, err := net.Listen(m.Network, m.Address)
			if err != nil {
				fail(err)
				return
			}
			closer = ln
			sock, _ = ln.(interface{ File() (*os.File, error) })
		}
		defer closer.Close()
		if sock == nil {
			fail(fmt.Errorf("network %q has no socket to hand over", m.Network))
			return
		}
		f, err := sock.File()
		if err != nil {
			fail(err)
			return
		}
		defer f.Close()
		s.send(reply, f)
	default:
		fail(fmt.Errorf("unknown request %s", strconv.Quote(m.Op)))
	}
}

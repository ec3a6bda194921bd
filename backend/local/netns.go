package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// nsHost is where a session's sandboxes are started and where the runner's
// sockets into the session's network namespace are made: a thread of the
// runner inside that namespace when the runner is root (netns), or a holder
// process in a user namespace of its own when it is not (holder).
type nsHost interface {
	// start starts a sandbox's init; exited delivers its exit status, as
	// the shell reports it, once it has ended.
	start(spec initSpec) (pid int, exited <-chan int, err error)
	dial(ctx context.Context, network, address string) (net.Conn, error)
	listen(ctx context.Context, network, address string) (net.Listener, error)
	Close() error
}

// initSpec is a sandbox init to start: this binary again, with args and
// env, the files as its stdout, stderr and fds 3, 4, 5, in fresh mount, PID,
// UTS and IPC namespaces, and a network namespace of its own if ownNet.
type initSpec struct {
	args   []string
	env    []string
	files  []*os.File
	ownNet bool
	// nproc is the sandbox's process limit, which a holder sets on the
	// sandbox's user namespace for all its users together (ownerFor);
	// root's sandboxes have cgroups.
	nproc int64
}

// thread is an OS thread of the runner's, locked for a session's life,
// where work that must happen on one thread runs. Forking is such work: the
// kernel sends a process's parent-death signal when the *thread* that
// forked it exits, and this one exits only when the session closes, after
// its sandboxes are gone.
type thread struct {
	work chan func()
	done chan struct{}
}

// errThreadClosed is returned for work sent after Close.
var errThreadClosed = errors.New("the session's namespace is closed")

// newThread starts a thread and runs setup on it before anything else.
func newThread(setup func() error) (*thread, error) {
	t := &thread{work: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go t.serve(setup, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return t, nil
}

// serve locks a thread, runs setup on it, and then the work sent to it
// until Close.
func (t *thread) serve(setup func() error, ready chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread: it stays where it is (it is the process's
		// face in /proc/self, and the runtime never ends it). Held
		// until another goroutine has locked a thread of its own, it
		// cannot be that one.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread() // serve's own lock nests in this one
			close(locked)
			t.serve(setup, ready)
		}()
		<-locked
		runtime.UnlockOSThread()
		return
	}
	// Never unlocked: when this goroutine returns, the runtime ends the
	// thread with it rather than reuse it, changed, elsewhere.
	defer close(t.done)
	if err := setup(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for fn := range t.work {
		fn()
	}
}

// do runs fn on the thread and returns its error.
func (t *thread) do(fn func() error) (err error) {
	ran := make(chan struct{})
	select {
	case t.work <- func() { defer close(ran); err = fn() }:
	case <-t.done:
		return errThreadClosed
	}
	<-ran
	return err
}

// Close ends the thread.
func (t *thread) Close() error {
	close(t.work)
	<-t.done
	return nil
}

// netns is a session's private network namespace, loopback only, made by
// a root runner: Go cannot move a process into a namespace, but it can
// move one thread, and everything that must happen inside runs there —
// starting a sandbox (a fork inherits the forking thread's namespace), and
// dialing or listening (a socket belongs to the namespace it is made in).
type netns struct{ t *thread }

// newNetns creates a network namespace with lo up, and its thread.
func newNetns() (*netns, error) {
	t, err := newThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("creating a network namespace: %w", err)
		}
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("bringing up lo: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &netns{t: t}, nil
}

func (n *netns) start(spec initSpec) (int, <-chan int, error) {
	cmd := initCommand(spec)
	cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC
	if spec.ownNet {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWNET
	}
	if err := n.t.do(cmd.Start); err != nil {
		return 0, nil, err
	}
	return cmd.Process.Pid, waitCode(cmd), nil
}

// initCommand is the command for a sandbox's init, without namespaces.
func initCommand(spec initSpec) *exec.Cmd {
	return &exec.Cmd{
		// Still this binary if it was replaced or deleted since it started.
		Path:       "/proc/self/exe",
		Args:       spec.args,
		Env:        spec.env,
		Stdout:     spec.files[0],
		Stderr:     spec.files[1],
		ExtraFiles: spec.files[2:],
		SysProcAttr: &syscall.SysProcAttr{
			// The sandbox dies with whoever started it, even on SIGKILL
			// (see thread); with it dies everything in its PID namespace.
			Pdeathsig: syscall.SIGKILL,
			// A session of its own, without a controlling terminal: a
			// terminal's Ctrl-C is the runner's to handle, not every
			// service's, and no process of the sandbox can reach the
			// runner's terminal (TIOCSTI would type into its shell).
			Setsid: true,
		},
	}
}

// waitCode waits for cmd in the background and delivers its exit status:
// the exit code, or 128 + the signal that ended it.
func waitCode(cmd *exec.Cmd) <-chan int {
	ch := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		ch <- code
	}()
	return ch
}

func (n *netns) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := n.t.do(func() error {
		var d net.Dialer
		var derr error
		conn, derr = d.DialContext(ctx, network, address)
		return derr
	})
	return conn, err
}

func (n *netns) listen(ctx context.Context, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := n.t.do(func() error {
		var lc net.ListenConfig
		var lerr error
		ln, lerr = lc.Listen(ctx, network, address)
		return lerr
	})
	return ln, err
}

// Close ends the namespace's thread; the namespace goes once no process is
// left in it.
func (n *netns) Close() error { return n.t.Close() }

// dialIn connects to a port of the session's loopback from the runner.
func dialIn(ctx context.Context, ns nsHost, network, address string) (net.Conn, error) {
	if ns == nil {
		return nil, errors.New("the container has no network")
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); (ip != nil && !ip.IsLoopback()) || strings.Contains(host, ".") && ip == nil {
		return nil, fmt.Errorf("%s is outside the environment: the local backend's network has only loopback (its services are 127.0.0.1, or their names)", host)
	}
	// Every name of the session is loopback; resolving here, rather than
	// with the host's resolver, keeps the dial inside.
	return ns.dial(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

package local

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// netns is a session's private network namespace: loopback only.
//
// Go cannot move a process into a namespace, but it can move one thread:
// each session has a thread of its own, locked inside its namespace for
// the session's life, and everything that must happen inside runs there —
// starting a sandbox (a fork inherits the forking thread's namespace), and
// dialing or listening (a socket belongs to the namespace it is made in).
// That one thread also makes the sandboxes' parent-death signal safe: the
// kernel sends it when the *thread* that forked a process exits, and this
// one exits only when the session closes, after its sandboxes are gone.
type netns struct {
	work chan func()
	done chan struct{}
}

// errNetnsClosed is returned for work sent after Close.
var errNetnsClosed = errors.New("the session's network namespace is closed")

// newNetns creates a network namespace with lo up, and its thread.
func newNetns() (*netns, error) {
	n := &netns{work: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go n.serve(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return n, nil
}

// serve locks a thread, moves it into a new namespace and runs the work
// sent to it there until Close.
func (n *netns) serve(ready chan<- error) {
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
			n.serve(ready)
		}()
		<-locked
		runtime.UnlockOSThread()
		return
	}
	// Never unlocked: when this goroutine returns, the runtime ends the
	// thread with it rather than reuse it outside the namespace.
	defer close(n.done)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		ready <- fmt.Errorf("creating a network namespace: %w", err)
		return
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		ready <- err
		return
	}
	err = setLinkUp(fd, "lo")
	unix.Close(fd)
	if err != nil {
		ready <- fmt.Errorf("bringing up lo: %w", err)
		return
	}
	ready <- nil
	for fn := range n.work {
		fn()
	}
}

// do runs fn on the namespace's thread and returns its error.
func (n *netns) do(fn func() error) (err error) {
	ran := make(chan struct{})
	select {
	case n.work <- func() { defer close(ran); err = fn() }:
	case <-n.done:
		return errNetnsClosed
	}
	<-ran
	return err
}

// Close ends the namespace's thread; the namespace goes once no process is
// left in it.
func (n *netns) Close() error {
	close(n.work)
	<-n.done
	return nil
}

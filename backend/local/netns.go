package local

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// netns is a session's private network namespace: loopback only. It lives
// as long as its file is open or a process is in it, so a dead runner
// leaves none behind once its sandboxes are gone.
//
// Go cannot move a process into a namespace, but it can move one thread.
// Code that must run inside (starting a sandbox, whose fork inherits the
// thread's namespace; dialing, whose socket is created in it) runs on a
// locked thread that enters the namespace and leaves it afterwards. A
// thread that cannot leave stays locked, so the runtime ends it with its
// goroutine instead of reusing it.
type netns struct {
	f *os.File
}

// newNetns creates a network namespace with lo up.
func newNetns() (*netns, error) {
	var ns *netns
	err := onThread(nil, func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("creating a network namespace: %w", err)
		}
		f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			f.Close()
			return err
		}
		defer unix.Close(fd)
		if err := setLinkUp(fd, "lo"); err != nil {
			f.Close()
			return fmt.Errorf("bringing up lo: %w", err)
		}
		ns = &netns{f: f}
		return nil
	})
	return ns, err
}

// do runs fn on a thread inside the namespace.
func (n *netns) do(fn func() error) error { return onThread(n, fn) }

func (n *netns) Close() error { return n.f.Close() }

// onThread runs fn on a locked OS thread, inside n (nil: fn creates its own
// namespace), and returns the thread to the namespace it came from.
func onThread(n *netns, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		home, err := os.Open(self)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer home.Close()
		if n != nil {
			if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				done <- fmt.Errorf("entering the session's network namespace: %w", err)
				return
			}
		}
		err = fn()
		if serr := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); serr != nil {
			// Left locked on purpose: the thread dies with this goroutine.
			done <- fmt.Errorf("leaving the session's network namespace: %w", serr)
			return
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}

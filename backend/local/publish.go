package local

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/cleanroomhq/cleanroom/errs"
)

// Publish makes a container port reachable on this machine's loopback, as
// an engine's published port is: a forwarder in the runner accepts on
// 127.0.0.1 and dials into the session's network namespace. Code that
// connects by itself (a Go test given a DSN) needs it; the runner's own
// clients dial into the namespace directly and publish nothing.
func (c *container) Publish(ctx context.Context, port int) (string, int, error) {
	if c.ns == nil {
		return "", 0, &errs.BackendError{Backend: Name, Op: "publish", Target: c.name, Err: errors.New(`the container has no network (policy network "none")`)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return "", 0, &errs.BackendError{Backend: Name, Op: "publish", Target: c.name, Err: errors.New("the container is removed")}
	}
	if f, ok := c.published[port]; ok {
		return "127.0.0.1", f.port(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, &errs.BackendError{Backend: Name, Op: "publish", Target: c.name, Err: err}
	}
	f := &forwarder{ln: ln, target: port, ns: c.ns, conns: map[net.Conn]bool{}}
	if c.published == nil {
		c.published = map[int]*forwarder{}
	}
	c.published[port] = f
	go f.serve()
	return "127.0.0.1", f.port(), nil
}

// unpublish closes every forwarder and the connections they carry.
func (c *container) unpublish() {
	c.mu.Lock()
	fs := c.published
	c.published = nil
	c.mu.Unlock()
	for _, f := range fs {
		f.close()
	}
}

type forwarder struct {
	ln     net.Listener
	target int
	ns     nsHost

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func (f *forwarder) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *forwarder) serve() {
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.forward(in)
	}
}

func (f *forwarder) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	for _, c := range cs {
		f.conns[c] = true
	}
	return true
}

func (f *forwarder) forward(in net.Conn) {
	out, err := dialIn(context.Background(), f.ns, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.target)))
	if err != nil {
		in.Close() // as a published port with nothing behind it does
		return
	}
	if !f.track(in, out) {
		in.Close()
		out.Close()
		return
	}
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Pass the end of one direction on, keep the other open.
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
	}
	wg.Add(2)
	go pipe(out, in)
	go pipe(in, out)
	wg.Wait()
	in.Close()
	out.Close()
	f.mu.Lock()
	delete(f.conns, in)
	delete(f.conns, out)
	f.mu.Unlock()
}

func (f *forwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
}

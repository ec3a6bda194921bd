package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

type container struct {
	s      *session
	id     string
	name   string
	spec   backend.ContainerSpec
	dir    string
	ns     nsHost  // the session's; nil under network "none"
	cg     *cgroup // the container's, with its limits
	initCg *cgroup // its init's, beside it
	logs   *logBuffer

	pid     int           // the init process, on the host
	started chan struct{} // closed once Start is done with it, in success or not
	exited  chan struct{} // closed once the init process has exited

	mu         sync.Mutex
	exitCode   int
	startedAt  time.Time
	finishedAt time.Time
	removed    bool
	published  map[int]*forwarder // by container port
}

func (c *container) ID() string   { return c.id }
func (c *container) Name() string { return c.name }

// socket is the control socket's path, short enough for a sockaddr_un.
func (c *container) socket() string {
	return filepath.Join(c.s.dir, c.id[len(c.id)-12:]+".sock")
}

func (c *container) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return c.pid != 0
	}
}

// Endpoint is the port on the session's loopback, which the runner reaches
// through DialContext.
func (c *container) Endpoint(ctx context.Context, port int) (string, int, error) {
	if c.ns == nil {
		return "", 0, &errs.BackendError{Backend: Name, Op: "endpoint", Target: c.name, Err: errors.New(`the container has no network (policy network "none")`)}
	}
	return "127.0.0.1", port, nil
}

// DialContext reaches the container's ports: they are in the session's
// network namespace, not the runner's.
func (c *container) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return dialIn(ctx, c.ns, network, address)
}

// request opens a connection to the init process and sends req.
func (c *container) request(ctx context.Context, req request) (net.Conn, error) {
	if !c.running() {
		return nil, errors.New("the container is not running")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket())
	if err != nil {
		return nil, err
	}
	if err := writeJSONFrame(conn, frameRequest, req); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// simple sends a request that has only a reply.
func (c *container) simple(ctx context.Context, op string, req request) (reply, error) {
	req.Op = op
	conn, err := c.request(ctx, req)
	if err != nil {
		return reply{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	kind, data, err := readFrame(conn)
	if err != nil {
		if ctx.Err() != nil {
			return reply{}, ctx.Err()
		}
		return reply{}, err
	}
	var rep reply
	if kind != frameReply {
		return reply{}, fmt.Errorf("unexpected frame %q", kind)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return reply{}, err
	}
	return rep, nil
}

func (c *container) Exec(ctx context.Context, spec backend.ExecSpec) (backend.ExecResult, error) {
	if len(spec.Cmd) == 0 {
		return backend.ExecResult{}, &errs.ValidationError{Field: "exec", Message: "empty command"}
	}
	start := time.Now()
	target := c.name + ": " + backend.QuoteArgv(spec.Cmd)
	if err := ctx.Err(); err != nil {
		return backend.ExecResult{ExitCode: -1}, &errs.TimeoutError{Op: "exec", Target: target, Err: err}
	}
	conn, err := c.request(ctx, request{Op: "exec", Cmd: spec.Cmd, Env: spec.Env, WorkDir: spec.WorkDir,
		User: spec.User, Stdin: spec.Stdin, HasStdin: spec.Stdin != nil})
	if err != nil {
		if ctx.Err() != nil {
			return backend.ExecResult{ExitCode: -1}, &errs.TimeoutError{Op: "exec", Target: target, Timeout: time.Since(start).Round(time.Millisecond), Err: ctx.Err()}
		}
		return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "exec", Target: c.name, Err: err}
	}
	defer conn.Close()

	var stdout, stderr bytes.Buffer
	type outcome struct {
		rep reply
		err error
	}
	ended := make(chan outcome, 1)
	go func() {
		for {
			kind, data, err := readFrame(conn)
			if err != nil {
				ended <- outcome{err: err}
				return
			}
			switch kind {
			case frameStdout:
				stdout.Write(data)
			case frameStderr:
				stderr.Write(data)
			case frameReply:
				var rep reply
				err := json.Unmarshal(data, &rep)
				ended <- outcome{rep, err}
				return
			}
		}
	}()
	var expired <-chan time.Time
	if spec.Timeout > 0 {
		t := time.NewTimer(spec.Timeout)
		defer t.Stop()
		expired = t.C
	}
	var cause error
	select {
	case o := <-ended:
		if o.err != nil {
			return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "exec", Target: c.name, Err: fmt.Errorf("the container's init process went away: %w", o.err)}
		}
		if o.rep.Err != "" && o.rep.ExitCode >= exitSetup {
			return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "exec", Target: c.name, Err: errors.New(o.rep.Err)}
		}
		return backend.ExecResult{ExitCode: o.rep.ExitCode, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}, nil
	case <-expired:
	case <-ctx.Done():
		cause = ctx.Err()
	}
	// Past its limit: the init kills the command's tree and then replies,
	// so once the reply is here nothing of it runs.
	_ = writeFrame(conn, frameKill, nil)
	var killErr error
	select {
	case o := <-ended:
		killErr = o.err
	case <-time.After(10 * time.Second):
		killErr = errors.New("no answer to the kill within 10s")
		conn.Close()
		<-ended // the reader stops writing into the buffers
	}
	limit := spec.Timeout
	if cause != nil {
		limit = time.Since(start).Round(time.Millisecond)
	}
	terr := &errs.TimeoutError{Op: "exec", Target: target, Timeout: limit, Err: cause}
	if killErr != nil {
		terr.Err = errors.Join(cause, fmt.Errorf("the process may still run: %w", killErr))
	}
	return backend.ExecResult{ExitCode: -1, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}, terr
}

func (c *container) Logs(ctx context.Context, follow bool) (io.ReadCloser, error) {
	return c.logs.reader(ctx, follow), nil
}

// TimedLogs is the container's output with the time each chunk arrived,
// stderr lines marked, as the Docker backend gives it.
func (c *container) TimedLogs(ctx context.Context) ([]byte, error) { return c.logs.timed(), nil }

func (c *container) CopyTo(ctx context.Context, f backend.File) error {
	files, err := sandboxFiles([]backend.File{f})
	if err != nil {
		return &errs.BackendError{Backend: Name, Op: "copy", Target: c.name, Err: err}
	}
	rep, err := c.simple(ctx, "write", request{Path: files[0].Path, Content: files[0].Content, Mode: files[0].Mode})
	if err == nil && rep.Err != "" {
		err = errors.New(rep.Err)
	}
	if err != nil {
		return &errs.BackendError{Backend: Name, Op: "copy", Target: c.name, Err: err}
	}
	return nil
}

func (c *container) CopyFrom(ctx context.Context, path string) ([]byte, error) {
	rep, err := c.simple(ctx, "read", request{Path: path})
	if err == nil && rep.Err != "" {
		err = errors.New(rep.Err)
		if rep.NotFound {
			err = fmt.Errorf("%s: %w", path, fs.ErrNotExist)
		}
	}
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "copy", Target: c.name, Err: err}
	}
	return rep.Content, nil
}

// Stop sends SIGTERM, which the init passes to the main process, and kills
// the sandbox when grace has passed.
func (c *container) Stop(ctx context.Context, grace time.Duration) error {
	if !c.running() {
		return nil
	}
	if grace > 0 {
		_ = syscall.Kill(c.pid, syscall.SIGTERM)
	}
	if !waitOrKill(c.exited, grace, func() { _ = syscall.Kill(c.pid, syscall.SIGKILL) }) {
		return &errs.BackendError{Backend: Name, Op: "stop", Target: c.name, Err: errors.New("the sandbox did not exit after SIGKILL")}
	}
	return nil
}

// kill ends the sandbox at once; the kernel kills everything in its PID
// namespace with its init.
func (c *container) kill() error { return c.Stop(context.Background(), 0) }

func (c *container) Remove(ctx context.Context) error {
	// A container still starting (a Close racing a Start) is removed once
	// its start is over, so that nothing it makes is left behind.
	<-c.started
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return nil
	}
	c.removed = true
	c.mu.Unlock()
	c.unpublish()
	var errList []error
	if c.pid != 0 {
		errList = append(errList, c.kill())
	}
	for _, cg := range []*cgroup{c.cg, c.initCg} {
		if cg != nil {
			errList = append(errList, cg.remove())
		}
	}
	if c.dir != "" {
		errList = append(errList, os.RemoveAll(c.dir))
	}
	if err := os.Remove(c.socket()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errList = append(errList, err)
	}
	c.s.mu.Lock()
	delete(c.s.containers, c.id)
	for p, id := range c.s.ports {
		if id == c.id {
			delete(c.s.ports, p)
		}
	}
	c.s.mu.Unlock()
	_ = c.s.writeHosts() // the name is gone; a failure here removes nothing less
	if err := errors.Join(errList...); err != nil {
		return &errs.BackendError{Backend: Name, Op: "remove", Target: c.name, Err: err}
	}
	return nil
}

func (c *container) Stats(ctx context.Context) (backend.Stats, error) {
	if c.running() && c.cg == nil && c.s.b.rootless {
		return procStats(c.pid, c.spec.Policy.Pids), nil
	}
	if !c.running() || c.cg == nil {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: errors.New("the container is not running")}
	}
	st, err := c.cg.files().Stats(c.s.b.hostMem)
	if err != nil {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: err}
	}
	forks, kills := c.cg.childEvents()
	st.PidsLimitHits += forks
	st.OOMKills += kills
	return st, nil
}

func (c *container) State(ctx context.Context) (backend.State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := backend.State{Running: c.running(), StartedAt: c.startedAt}
	if !st.Running {
		st.ExitCode, st.FinishedAt = c.exitCode, c.finishedAt
	}
	if c.cg != nil {
		if s, err := c.cg.files().Stats(0); err == nil {
			_, kills := c.cg.childEvents()
			st.OOMKilled = s.OOMKills+kills > 0
		}
	}
	return st, nil
}

// logBuffer keeps a container's output in memory, in the order it came,
// for Logs, TimedLogs and the output of one-shot runs.
type logBuffer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	chunks []logChunk
	size   int
	base   int // chunks dropped from the front, so readers keep their place
	open   int // streams not yet at EOF
}

type logChunk struct {
	at     time.Time
	stderr bool
	data   []byte
}

// maxLog bounds what a container's log keeps; the oldest output goes first.
const maxLog = 64 << 20

func newLogBuffer() *logBuffer {
	l := &logBuffer{open: 2}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *logBuffer) copy(r *os.File, stderr bool) {
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			l.mu.Lock()
			l.chunks = append(l.chunks, logChunk{at: time.Now(), stderr: stderr, data: bytes.Clone(buf[:n])})
			l.size += n
			for l.size > maxLog && len(l.chunks) > 1 {
				l.size -= len(l.chunks[0].data)
				l.chunks = l.chunks[1:]
				l.base++
			}
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		if err != nil {
			l.mu.Lock()
			l.open--
			l.cond.Broadcast()
			l.mu.Unlock()
			return
		}
	}
}

// waitClosed waits until both streams ended (the sandbox and all its
// processes are gone), at most d.
func (l *logBuffer) waitClosed(d time.Duration) {
	timer := time.AfterFunc(d, func() { l.mu.Lock(); l.cond.Broadcast(); l.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.open > 0 && time.Now().Before(deadline) {
		l.cond.Wait()
	}
}

func (l *logBuffer) streams() (stdout, stderr []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var o, e bytes.Buffer
	for _, c := range l.chunks {
		if c.stderr {
			e.Write(c.data)
		} else {
			o.Write(c.data)
		}
	}
	return o.Bytes(), e.Bytes()
}

func (l *logBuffer) timed() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	for _, c := range l.chunks {
		for _, line := range bytes.SplitAfter(c.data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			b.WriteString(c.at.UTC().Format(time.RFC3339Nano))
			b.WriteByte(' ')
			if c.stderr {
				b.WriteString("stderr ")
			}
			b.Write(line)
		}
	}
	return b.Bytes()
}

// reader reads the combined output from the start; with follow it goes on
// until the streams end or ctx does.
func (l *logBuffer) reader(ctx context.Context, follow bool) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		stop := context.AfterFunc(ctx, func() { l.mu.Lock(); l.cond.Broadcast(); l.mu.Unlock() })
		defer stop()
		next := 0
		for {
			l.mu.Lock()
			for follow && next >= l.base+len(l.chunks) && l.open > 0 && ctx.Err() == nil {
				l.cond.Wait()
			}
			var out [][]byte
			for next = max(next, l.base); next < l.base+len(l.chunks); next++ {
				out = append(out, l.chunks[next-l.base].data)
			}
			done := !follow || l.open == 0 || ctx.Err() != nil
			l.mu.Unlock()
			for _, d := range out {
				if _, err := pw.Write(d); err != nil {
					return
				}
			}
			if done {
				pw.Close()
				return
			}
		}
	}()
	return pr
}

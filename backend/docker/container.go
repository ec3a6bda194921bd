package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/cgroupfs"
)

type dockerContainer struct {
	b       *Backend
	tc      *testcontainers.DockerContainer
	id      string
	name    string
	netName string // the session's network

	mu    sync.Mutex
	ports map[int]int // container port → published host port
	ip    string      // address on the session network; "" under network "none"
	// cg is where the container's cgroup files are (see Stats); cgKnown
	// says whether that was looked up, cg nil meaning out of reach.
	cg      *cgroupfs.Files
	cgKnown bool
}

func (c *dockerContainer) ID() string   { return c.id }
func (c *dockerContainer) Name() string { return c.name }

// loadPorts reads the published ports and the session-network address once:
// they do not change while the container runs, and an inspect per Endpoint
// call would sit on every step's hot path.
func (c *dockerContainer) loadPorts(ctx context.Context) error {
	res, err := c.b.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil {
		return &errs.BackendError{Backend: Name, Op: "inspect", Target: c.name, Err: err}
	}
	ports := map[int]int{}
	var ip string
	if ns := res.Container.NetworkSettings; ns != nil {
		for p, binds := range ns.Ports {
			for _, bnd := range binds {
				if hp, err := strconv.Atoi(bnd.HostPort); err == nil && hp > 0 {
					// The engine publishes on IPv4 and IPv6; both carry the
					// same port on the runner's side.
					ports[int(p.Num())] = hp
					break
				}
			}
		}
		if ep := ns.Networks[c.netName]; ep != nil && ep.IPAddress.IsValid() {
			ip = ep.IPAddress.String()
		}
	}
	c.mu.Lock()
	c.ports = ports
	c.ip = ip
	c.mu.Unlock()
	return nil
}

// Endpoint prefers a published port (a container under network "bridge"
// has them, and they work with a remote engine too). A container on the
// internal session network only has its address there, which the runner
// reaches directly when the engine runs on its machine.
func (c *dockerContainer) Endpoint(_ context.Context, port int) (string, int, error) {
	c.mu.Lock()
	hp, published := c.ports[port]
	ip := c.ip
	c.mu.Unlock()
	switch {
	case published:
		return c.b.host, hp, nil
	case ip != "":
		return ip, port, nil
	}
	return "", 0, &errs.BackendError{Backend: Name, Op: "endpoint", Target: c.name,
		Err: fmt.Errorf("port %d cannot be reached: the container has no network (policy network = \"none\")", port)}
}

// Exec runs the command through the engine's exec API with stdout and
// stderr demultiplexed. testcontainers' Exec cannot be used: it merges the
// streams and, on timeout, only stops waiting while the process runs on.
func (c *dockerContainer) Exec(ctx context.Context, spec backend.ExecSpec) (backend.ExecResult, error) {
	if len(spec.Cmd) == 0 {
		return backend.ExecResult{}, &errs.ValidationError{Field: "exec", Message: "empty command"}
	}
	start := time.Now()
	created, err := c.b.cli.ExecCreate(ctx, c.id, client.ExecCreateOptions{
		Cmd:          spec.Cmd,
		Env:          envList(spec.Env),
		WorkingDir:   spec.WorkDir,
		User:         spec.User,
		AttachStdin:  spec.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		if ctx.Err() != nil {
			// ctx ending before the command ran is a timeout by the
			// contract, not an engine failure.
			return backend.ExecResult{ExitCode: -1, Duration: time.Since(start)}, &errs.TimeoutError{Op: "exec",
				Target: c.name + ": " + backend.QuoteArgv(spec.Cmd), Timeout: time.Since(start).Round(time.Millisecond), Err: ctx.Err()}
		}
		return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "exec", Target: c.name, Err: err}
	}
	att, err := c.b.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		if ctx.Err() != nil {
			// The engine may have started the process before ctx cut the
			// attach short; it must not run on unkilled.
			ended := make(chan error)
			close(ended)
			return c.abandon(context.WithoutCancel(ctx), created.ID, spec, start, new(bytes.Buffer), new(bytes.Buffer), ended, ctx.Err())
		}
		return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "exec", Target: c.name, Err: err}
	}
	defer att.Close()

	if spec.Stdin != nil {
		go func() {
			_, _ = att.Conn.Write(spec.Stdin)
			_ = att.CloseWrite()
		}()
	}

	var stdout, stderr bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		copied <- err
	}()

	var timeout <-chan time.Time
	if spec.Timeout > 0 {
		t := time.NewTimer(spec.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-copied:
		if err != nil {
			return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "exec", Target: c.name, Err: err}
		}
	case <-timeout:
		return c.abandon(ctx, created.ID, spec, start, &stdout, &stderr, copied, nil)
	case <-ctx.Done():
		return c.abandon(context.WithoutCancel(ctx), created.ID, spec, start, &stdout, &stderr, copied, ctx.Err())
	}

	code, err := c.exitCode(ctx, created.ID)
	if err != nil {
		return backend.ExecResult{}, err
	}
	return backend.ExecResult{ExitCode: code, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}, nil
}

// abandon kills the exec'd process tree, then reports the timeout with the
// output gathered so far.
func (c *dockerContainer) abandon(ctx context.Context, execID string, spec backend.ExecSpec, start time.Time,
	stdout, stderr *bytes.Buffer, copied <-chan error, cause error) (backend.ExecResult, error) {
	killErr := c.killExec(ctx, execID)
	// Once the processes are dead the stream ends; wait for it briefly so
	// the partial output is complete, without trusting it to end.
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	res := backend.ExecResult{ExitCode: -1, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	limit := spec.Timeout
	if cause != nil {
		limit = time.Since(start).Round(time.Millisecond)
	}
	terr := &errs.TimeoutError{Op: "exec", Target: c.name + ": " + backend.QuoteArgv(spec.Cmd), Timeout: limit, Err: cause}
	if killErr != nil {
		terr.Err = errors.Join(cause, fmt.Errorf("the process may still run: %w", killErr))
	}
	return res, terr
}

// exitCode asks the engine for the exit code. The output stream can end a
// moment before the engine records the exit, so a still-running exec is
// polled briefly.
func (c *dockerContainer) exitCode(ctx context.Context, execID string) (int, error) {
	for delay := 200 * time.Microsecond; ; delay *= 2 {
		res, err := c.b.cli.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return 0, &errs.BackendError{Backend: Name, Op: "exec inspect", Target: c.name, Err: err}
		}
		if !res.Running {
			return res.ExitCode, nil
		}
		if delay > time.Second {
			return 0, &errs.BackendError{Backend: Name, Op: "exec inspect", Target: c.name, Err: errors.New("output ended but the process still runs")}
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return 0, &errs.BackendError{Backend: Name, Op: "exec inspect", Target: c.name, Err: ctx.Err()}
		}
	}
}

func (c *dockerContainer) Logs(ctx context.Context, follow bool) (io.ReadCloser, error) {
	rc, err := c.b.cli.ContainerLogs(ctx, c.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow})
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "logs", Target: c.name, Err: err}
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		_ = rc.Close()
		_ = pw.CloseWithError(err)
	}()
	return &pipeCloser{PipeReader: pr, src: rc}, nil
}

// pipeCloser closes the engine stream too, so a follower stops at once.
type pipeCloser struct {
	*io.PipeReader
	src io.Closer
}

func (p *pipeCloser) Close() error {
	_ = p.src.Close()
	return p.PipeReader.Close()
}

func (c *dockerContainer) CopyTo(ctx context.Context, f backend.File) error {
	if err := copyInto(ctx, c.b.cli, c.id, f); err != nil {
		return &errs.BackendError{Backend: Name, Op: "copy to", Target: c.name + ":" + f.Path, Err: err}
	}
	return nil
}

// TimedLogs is the container's output with the engine's timestamps, stderr
// lines marked, in the order the engine received them.
func (c *dockerContainer) TimedLogs(ctx context.Context) ([]byte, error) {
	rc, err := c.b.cli.ContainerLogs(ctx, c.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "logs", Target: c.name, Err: err}
	}
	defer rc.Close()
	var buf bytes.Buffer
	// A log line is one frame of the engine's stream, so marking each
	// frame's lines marks whole lines. Capped like Logs' readers.
	_, err = stdcopy.StdCopy(&buf, &markLines{w: &buf, mark: "stderr "}, io.LimitReader(rc, 64<<20))
	return buf.Bytes(), err
}

// markLines writes each line with mark after its leading timestamp.
type markLines struct {
	w    io.Writer
	mark string
}

func (m *markLines) Write(p []byte) (int, error) {
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		ts, rest, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			ts, rest = nil, line
		}
		if ts != nil {
			m.w.Write(ts)
			m.w.Write([]byte(" "))
		}
		m.w.Write([]byte(m.mark))
		m.w.Write(rest)
	}
	return len(p), nil
}

// copyInto copies a file into a container, created or running, as a tar
// of one entry extracted in the file's directory. testcontainers extracts
// at "/" with the whole path in the entry, which an engine refuses for a
// read-only root file system even when the directory is a writable volume.
func copyInto(ctx context.Context, cli *client.Client, id string, f backend.File) error {
	content := f.Content
	if content == nil {
		b, err := os.ReadFile(f.HostPath)
		if err != nil {
			return err
		}
		content = b
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: path.Base(f.Path), Mode: mode, Size: int64(len(content)), ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(content); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	dir := path.Dir(f.Path)
	// The directory may not exist in the image; a volume mounted there
	// creates it, otherwise make it with a tar entry of its own.
	_, err := cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: &buf})
	if err != nil && isNotFound(err) {
		return copyWithParents(ctx, cli, id, f.Path, content, mode)
	}
	return err
}

// copyWithParents extracts at "/" with the directories in the archive, for
// a destination directory the image does not have.
func copyWithParents(ctx context.Context, cli *client.Client, id, dst string, content []byte, mode int64) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	parts := strings.Split(strings.Trim(path.Dir(dst), "/"), "/")
	for i := range parts {
		dir := strings.Join(parts[:i+1], "/") + "/"
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Now()}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(dst, "/"), Mode: mode, Size: int64(len(content)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(content); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err := cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf})
	return err
}

func (c *dockerContainer) CopyFrom(ctx context.Context, path string) ([]byte, error) {
	rc, err := c.tc.CopyFileFromContainer(ctx, path)
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "copy from", Target: c.name + ":" + path, Err: err}
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "copy from", Target: c.name + ":" + path, Err: err}
	}
	return b, nil
}

func (c *dockerContainer) Stop(ctx context.Context, grace time.Duration) error {
	// The engine counts whole seconds and reads a negative timeout as "wait
	// forever"; round up, and treat a negative grace as none.
	secs := int((max(grace, 0) + time.Second - 1) / time.Second)
	if _, err := c.b.cli.ContainerStop(ctx, c.id, client.ContainerStopOptions{Timeout: &secs}); err != nil && !isNotFound(err) {
		return &errs.BackendError{Backend: Name, Op: "stop", Target: c.name, Err: err}
	}
	return nil
}

func (c *dockerContainer) Remove(ctx context.Context) error { return c.b.removeContainer(ctx, c.id) }

// envList renders env sorted, so that the same spec gives the same process
// environment on every run.
func envList(env map[string]string) []string {
	keys := slices.Sorted(maps.Keys(env))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + env[k]
	}
	return out
}

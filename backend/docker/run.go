package docker

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// Run implements backend.Session: the container is started like a service
// (same labels, network and pull policy), so a Close or a sweep removes it
// if the runner dies while it runs.
func (s *session) Run(ctx context.Context, spec backend.ContainerSpec, timeout time.Duration) (backend.ExecResult, error) {
	begin := time.Now()
	c, err := s.Start(ctx, spec)
	if err != nil {
		return backend.ExecResult{}, err
	}
	dc := c.(*dockerContainer)
	defer func() { _ = dc.Remove(context.WithoutCancel(ctx)) }()
	// Sampled while it runs, for the step's resource usage; a container
	// that exits at once may leave no sample at all.
	sampler, _ := backend.StartSampler(ctx, dc, backend.DefaultSampleInterval)
	if sampler != nil {
		defer sampler.Stop(context.WithoutCancel(ctx)) // on the error paths
	}
	usage := func() *backend.Usage { return backend.RunUsage(ctx, sampler, dc, spec.Policy) }

	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// not-running also covers a command that exited before the wait began.
	w := s.b.cli.ContainerWait(waitCtx, dc.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int
	select {
	case res := <-w.Result:
		if res.Error != nil {
			return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "run", Target: spec.Name, Err: errors.New(res.Error.Message)}
		}
		code = int(res.StatusCode)
	case err := <-w.Error:
		if waitCtx.Err() == nil {
			return backend.ExecResult{}, &errs.BackendError{Backend: Name, Op: "run", Target: spec.Name, Err: err}
		}
		// Timeout or cancellation: the deferred Remove kills it (SIGKILL).
		out, errOut := dc.output(context.WithoutCancel(ctx))
		limit := timeout
		if ctx.Err() != nil {
			limit = time.Since(begin).Round(time.Millisecond)
		}
		return backend.ExecResult{ExitCode: -1, Stdout: out, Stderr: errOut, Duration: time.Since(begin), Usage: usage()},
			&errs.TimeoutError{Op: "run", Target: spec.Name + ": " + backend.QuoteArgv(append(spec.Entrypoint, spec.Cmd...)), Timeout: limit, Err: ctx.Err()}
	}
	out, errOut := dc.output(ctx)
	return backend.ExecResult{ExitCode: code, Stdout: out, Stderr: errOut, Duration: time.Since(begin), Usage: usage()}, nil
}

// output reads the container's stdout and stderr so far, separately.
func (c *dockerContainer) output(ctx context.Context) ([]byte, []byte) {
	rc, err := c.b.cli.ContainerLogs(ctx, c.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, nil
	}
	defer rc.Close()
	var stdout, stderr bytes.Buffer
	_, _ = stdcopy.StdCopy(&stdout, &stderr, rc)
	return stdout.Bytes(), stderr.Bytes()
}

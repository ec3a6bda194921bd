package ready

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// Port is ready when the container port accepts a TCP connection that stays
// open. A bare connect is not enough: the engine's port proxy accepts on the
// published port even while nothing listens inside, then closes at once. So
// the probe reads briefly: a server that waits for its client (PostgreSQL,
// Redis, HTTP) times out the read, one that greets sends bytes, and the
// proxy with no server behind it answers EOF.
func Port(port int, opts ...Option) Check {
	return Func(fmt.Sprintf("port %d", port), func(ctx context.Context, c backend.Container) error {
		host, hp, err := c.Endpoint(ctx, port)
		if err != nil {
			return Permanent(err)
		}
		conn, err := backend.DialContext(ctx, c, "tcp", net.JoinHostPort(host, strconv.Itoa(hp)))
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("connection to %s:%d refused: nothing listens on port %d yet", host, hp, port)
		}
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			return nil
		}
		return fmt.Errorf("connection to %s:%d closed: nothing listens on port %d yet", host, hp, port)
	}, opts...)
}

// Log is ready once the service's output has matched pattern `times` times
// (PostgreSQL's official image prints its ready line twice: once for the
// temporary init server, once for the real one).
func Log(pattern string, times int, opts ...Option) Check {
	re, rerr := regexp.Compile(pattern)
	if times < 1 {
		times = 1
	}
	desc := fmt.Sprintf("log /%s/", pattern)
	if times > 1 {
		desc += fmt.Sprintf(" ×%d", times)
	}
	return Func(desc, func(ctx context.Context, c backend.Container) error {
		if rerr != nil {
			return Permanent(&errs.ValidationError{Field: "wait.log", Message: rerr.Error()})
		}
		// Follow the log so a match is seen the moment it is written rather
		// than at the next poll; the attempt's context bounds the wait.
		rc, err := c.Logs(ctx, true)
		if err != nil {
			return err
		}
		defer rc.Close()
		stop := context.AfterFunc(ctx, func() { _ = rc.Close() })
		defer stop()
		n := 0
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if re.Match(sc.Bytes()) {
				n++
				if n >= times {
					return nil
				}
			}
		}
		return fmt.Errorf("log matched %d of %d times", n, times)
	}, opts...)
}

// HTTP is ready when GET path on the container port answers status (any
// status below 500 when status is 0).
func HTTP(port int, path string, status int, opts ...Option) Check {
	desc := fmt.Sprintf("http GET :%d%s", port, path)
	if status != 0 {
		desc += fmt.Sprintf(" → %d", status)
	}
	return Func(desc, func(ctx context.Context, c backend.Container) error {
		host, hp, err := c.Endpoint(ctx, port)
		if err != nil {
			return Permanent(err)
		}
		url := "http://" + net.JoinHostPort(host, strconv.Itoa(hp)) + path
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return backend.DialContext(ctx, c, network, addr)
			},
			DisableKeepAlives: true,
		}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return Permanent(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64*1024))
		_ = resp.Body.Close()
		if (status == 0 && resp.StatusCode < 500) || resp.StatusCode == status {
			return nil
		}
		return fmt.Errorf("GET %s answered %d", path, resp.StatusCode)
	}, opts...)
}

// Exec is ready when the command exits 0 inside the container.
func Exec(cmd []string, opts ...Option) Check {
	return Func(fmt.Sprintf("exec %q", cmd), func(ctx context.Context, c backend.Container) error {
		res, err := c.Exec(ctx, backend.ExecSpec{Cmd: cmd, Timeout: 5 * time.Second})
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("exit code %d: %s", res.ExitCode, firstLine(res.Stderr, res.Stdout))
		}
		return nil
	}, opts...)
}

func firstLine(bufs ...[]byte) string {
	for _, b := range bufs {
		s := string(b)
		for i, r := range s {
			if r == '\n' {
				s = s[:i]
				break
			}
		}
		if s != "" {
			return s
		}
	}
	return "(no output)"
}

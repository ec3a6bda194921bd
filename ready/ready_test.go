package ready_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service/generic"
)

// The checks run against real containers of one environment shared by the
// tests of this file: starting them once keeps the package fast.
var (
	idle backend.Container // busybox sleeping, port 8080 declared, nothing listening
	web  backend.Container // busybox httpd on 8080 that printed "marker" twice
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := context.Background()
	env, err := cleanroom.New(ctx)
	if err != nil {
		return 0, err
	}
	defer env.Close(ctx)
	insts, err := env.Start(ctx,
		generic.Spec("idle", "busybox:latest", generic.WithCommand("sleep", "3600"), generic.WithPorts(8080)),
		generic.Spec("web", "busybox:latest",
			generic.WithCommand("sh", "-c", "mkdir -p /www && echo hello > /www/index.html && echo marker && echo marker && exec httpd -f -p 8080 -h /www"),
			generic.WithPorts(8080)),
	)
	if err != nil {
		return 0, err
	}
	idle, web = insts[0].Container, insts[1].Container
	// No readiness on the services themselves: the checks under test do the
	// waiting.
	if err := ready.Port(8080, ready.WithTimeout(20*time.Second)).Wait(ctx, web); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func TestChecksOnTheEngine(t *testing.T) {
	// Failing checks poll for short; those that go through the engine's
	// API (exec, logs) for longer, since one attempt costs several engine
	// calls and the deadline must leave room for a complete attempt on a
	// busy engine.
	const short = 800 * time.Millisecond
	slow := []ready.Option{ready.WithTimeout(5 * time.Second), ready.WithInterval(400 * time.Millisecond)} // attempts of up to 2s
	tests := []struct {
		name      string
		container *backend.Container
		check     ready.Check
		// wantErr is "" for ready; else a substring of the error.
		wantErr     string
		wantTimeout bool // the error is a *errs.TimeoutError carrying the last reason
	}{
		{name: "port with a listening server", container: &web, check: ready.Port(8080)},
		{
			name: "port with only the engine's proxy", container: &idle, check: ready.Port(8080, ready.WithTimeout(short)),
			wantErr: "nothing listens on port 8080", wantTimeout: true,
		},
		{
			// The runner reaches every port of a container on the
			// session's network, declared or not.
			name: "port nothing listens on", container: &web, check: ready.Port(9999, ready.WithTimeout(short)),
			wantErr: "9999", wantTimeout: true,
		},
		{name: "log line twice", container: &web, check: ready.Log("^marker$", 2)},
		{
			name: "log line three times", container: &web, check: ready.Log("^marker$", 3, slow...),
			wantErr: "log matched 2 of 3 times", wantTimeout: true,
		},
		{
			name: "invalid log pattern fails at once", container: &web, check: ready.Log("(", 1, ready.WithTimeout(time.Minute)),
			wantErr: "wait.log",
		},
		{name: "http status", container: &web, check: ready.HTTP(8080, "/index.html", 200)},
		{name: "http any status below 500", container: &web, check: ready.HTTP(8080, "/missing", 0)},
		{
			name: "http wrong status", container: &web, check: ready.HTTP(8080, "/missing", 200, ready.WithTimeout(short)),
			wantErr: "GET /missing answered 404", wantTimeout: true,
		},
		{
			name: "http with nothing listening", container: &idle, check: ready.HTTP(8080, "/", 200, ready.WithTimeout(short)),
			wantTimeout: true,
		},
		{name: "exec succeeds", container: &web, check: ready.Exec([]string{"test", "-f", "/www/index.html"})},
		{
			name: "exec fails", container: &web, check: ready.Exec([]string{"sh", "-c", "echo not yet >&2; exit 3"}, slow...),
			wantErr: "exit code 3: not yet", wantTimeout: true,
		},
		{name: "all ready", container: &web, check: ready.All(ready.Port(8080), ready.Log("marker", 1), ready.HTTP(8080, "/", 200))},
		{
			name: "all with one failing", container: &web, check: ready.All(ready.Port(8080), ready.Exec([]string{"false"}, slow...)),
			wantErr: "exit code 1", wantTimeout: true,
		},
		{name: "none", container: &idle, check: ready.None()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := *tt.container
			begin := time.Now()
			err := tt.check.Wait(t.Context(), c)
			took := time.Since(begin)
			if tt.wantErr == "" && !tt.wantTimeout {
				if err != nil {
					t.Fatalf("%s on %s: want ready, got %v", tt.check, c.Name(), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s on %s: want an error containing %q, got ready", tt.check, c.Name(), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s on %s: want an error containing %q, got %v", tt.check, c.Name(), tt.wantErr, err)
			}
			var te *errs.TimeoutError
			isTimeout := errors.As(err, &te)
			if isTimeout != tt.wantTimeout {
				t.Fatalf("%s on %s: want *TimeoutError=%v, got %T: %v", tt.check, c.Name(), tt.wantTimeout, err, err)
			}
			if isTimeout {
				if te.Err == nil {
					t.Errorf("TimeoutError: want the last reason, got none")
				}
				if te.Op != "readiness" || !strings.Contains(te.Target, c.Name()) {
					t.Errorf("TimeoutError: want op readiness on %s, got %q on %q", c.Name(), te.Op, te.Target)
				}
			} else if took > 10*time.Second {
				t.Errorf("%s: want a permanent error at once, it took %s", tt.check, took)
			}
		})
	}
}

func TestDescriptions(t *testing.T) {
	for _, tt := range []struct {
		check ready.Check
		want  string
	}{
		{ready.Port(5432), "port 5432"},
		{ready.Log("ready", 1), "log /ready/"},
		{ready.Log("ready", 2), "log /ready/ ×2"},
		{ready.HTTP(80, "/health", 0), "http GET :80/health"},
		{ready.HTTP(80, "/health", 204), "http GET :80/health → 204"},
		{ready.Exec([]string{"pg_isready"}), `exec ["pg_isready"]`},
		{ready.All(ready.Port(1), ready.Port(2)), "port 1 and port 2"},
		{ready.None(), "started"},
	} {
		if got := tt.check.String(); got != tt.want {
			t.Errorf("String: want %q, got %q", tt.want, got)
		}
	}
}

// namedContainer satisfies backend.Container for the polling logic, which
// only asks for the name; the checks that touch a container are tested on
// the engine above.
type namedContainer struct{ backend.Container }

func (namedContainer) Name() string { return "svc" }

func TestPollingLogic(t *testing.T) {
	c := namedContainer{}

	t.Run("retries until ready", func(t *testing.T) {
		var n atomic.Int32
		err := ready.Func("third time", func(context.Context, backend.Container) error {
			if n.Add(1) < 3 {
				return errors.New("not yet")
			}
			return nil
		}).Wait(t.Context(), c)
		if err != nil || n.Load() != 3 {
			t.Errorf("want ready after 3 attempts, got %v after %d", err, n.Load())
		}
	})

	t.Run("permanent error stops at once", func(t *testing.T) {
		var n atomic.Int32
		cause := errors.New("container exited")
		err := ready.Func("doomed", func(context.Context, backend.Container) error {
			n.Add(1)
			return ready.Permanent(cause)
		}, ready.WithTimeout(time.Minute)).Wait(t.Context(), c)
		if !errors.Is(err, cause) || n.Load() != 1 {
			t.Errorf("want %v after 1 attempt, got %v after %d", cause, err, n.Load())
		}
		var te *errs.TimeoutError
		if errors.As(err, &te) {
			t.Errorf("want no TimeoutError for a permanent failure, got %v", err)
		}
		if !strings.Contains(err.Error(), "svc doomed") {
			t.Errorf("want the container and check named, got %q", err)
		}
	})

	t.Run("timeout carries the last reason", func(t *testing.T) {
		var n atomic.Int32
		err := ready.Func("never", func(context.Context, backend.Container) error {
			return fmt.Errorf("attempt %d failed", n.Add(1))
		}, ready.WithTimeout(300*time.Millisecond), ready.WithInterval(20*time.Millisecond)).Wait(t.Context(), c)
		var te *errs.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("want a *TimeoutError, got %T: %v", err, err)
		}
		last := fmt.Sprintf("attempt %d failed", n.Load())
		if te.Err == nil || te.Err.Error() != last {
			t.Errorf("TimeoutError.Err: want the last reason %q, got %v", last, te.Err)
		}
		if te.Timeout != 300*time.Millisecond {
			t.Errorf("TimeoutError.Timeout: want 300ms, got %s", te.Timeout)
		}
		if n.Load() < 5 {
			t.Errorf("want several attempts in 300ms at a 20ms interval, got %d", n.Load())
		}
		if want := "readiness svc (never): timed out after 300ms: " + last; err.Error() != want {
			t.Errorf("message: want %q, got %q", want, err.Error())
		}
	})

	t.Run("an attempt cut short keeps the last real reason", func(t *testing.T) {
		var n atomic.Int32
		err := ready.Func("slow", func(ctx context.Context, _ backend.Container) error {
			if n.Add(1) == 1 {
				return errors.New("connection refused")
			}
			<-ctx.Done() // hangs until the check's deadline cuts it off
			return ctx.Err()
		}, ready.WithTimeout(200*time.Millisecond)).Wait(t.Context(), c)
		var te *errs.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("want a *TimeoutError, got %T: %v", err, err)
		}
		if te.Err == nil || te.Err.Error() != "connection refused" {
			t.Errorf("TimeoutError.Err: want the last complete attempt's reason, got %v", te.Err)
		}
	})

	t.Run("caller's deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := ready.Func("never", func(context.Context, backend.Container) error {
			return errors.New("still down")
		}).Wait(ctx, c)
		var te *errs.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("want a *TimeoutError, got %T: %v", err, err)
		}
		// The message must say how long was waited, not the check's own
		// (here default, one minute) limit.
		if te.Timeout >= ready.DefaultTimeout || te.Timeout < 150*time.Millisecond {
			t.Errorf("TimeoutError.Timeout: want about 200ms (the caller's deadline), got %s", te.Timeout)
		}
		if te.Err == nil || te.Err.Error() != "still down" {
			t.Errorf("TimeoutError.Err: want the last reason, got %v", te.Err)
		}
	})
}

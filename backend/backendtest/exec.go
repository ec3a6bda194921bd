package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// killLimit is how soon after its limit an Exec that timed out must return.
// The command it kills would run for 300 s.
const killLimit = 10 * time.Second

func testExec(t *testing.T, s *suite) {
	t.Run("Results", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{Name: "exec"})

		cases := []struct {
			name                 string
			spec                 backend.ExecSpec
			exitCode             int
			stdout, stderr       string
			stdoutLen, stderrLen int // when > 0, only the lengths of zero-filled streams are checked
		}{
			{
				name:     "SeparateStreamsAndNonZeroExit",
				spec:     backend.ExecSpec{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}},
				exitCode: 3, stdout: "out\n", stderr: "err\n",
			},
			{
				name: "SuccessWithoutOutput",
				spec: backend.ExecSpec{Cmd: []string{"true"}},
			},
			{
				name:   "Env",
				spec:   backend.ExecSpec{Cmd: []string{"sh", "-c", `echo "$GREETING|${EMPTY-unset}"`}, Env: map[string]string{"GREETING": "hello world", "EMPTY": ""}},
				stdout: "hello world|\n",
			},
			{
				name:   "WorkDir",
				spec:   backend.ExecSpec{Cmd: []string{"pwd"}, WorkDir: "/etc"},
				stdout: "/etc\n",
			},
			{
				name:   "UserByID",
				spec:   backend.ExecSpec{Cmd: []string{"id", "-u"}, User: "65534"},
				stdout: "65534\n",
			},
			{
				name:   "UserByName",
				spec:   backend.ExecSpec{Cmd: []string{"id", "-un"}, User: "nobody"},
				stdout: "nobody\n",
			},
			{
				name:   "Stdin",
				spec:   backend.ExecSpec{Cmd: []string{"cat"}, Stdin: []byte("line one\nline two\n")},
				stdout: "line one\nline two\n",
			},
			{
				// cat returns only when stdin ends: the backend must close it.
				name: "EmptyStdinIsClosed",
				spec: backend.ExecSpec{Cmd: []string{"cat"}, Stdin: []byte{}},
			},
			{
				name:      "LargeOutputOnBothStreams",
				spec:      backend.ExecSpec{Cmd: []string{"sh", "-c", "head -c 1048576 /dev/zero; head -c 300000 /dev/zero >&2"}},
				stdoutLen: 1048576, stderrLen: 300000,
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				spec := tc.spec
				// A backend that never delivers EOF must fail here, not hang.
				spec.Timeout = callLimit
				res := run(t, c, spec)
				if res.ExitCode != tc.exitCode {
					t.Errorf("exit code: got %d, want %d (stdout %q, stderr %q)", res.ExitCode, tc.exitCode, clip(res.Stdout), clip(res.Stderr))
				}
				if tc.stdoutLen > 0 || tc.stderrLen > 0 {
					checkZeros(t, "stdout", res.Stdout, tc.stdoutLen)
					checkZeros(t, "stderr", res.Stderr, tc.stderrLen)
				} else {
					if string(res.Stdout) != tc.stdout {
						t.Errorf("stdout: got %q, want %q", res.Stdout, tc.stdout)
					}
					if string(res.Stderr) != tc.stderr {
						t.Errorf("stderr: got %q, want %q", res.Stderr, tc.stderr)
					}
				}
				if res.Duration <= 0 {
					t.Errorf("duration: got %s, want > 0", res.Duration)
				}
			})
		}

		t.Run("ExpiredContextIsATimeoutAndRunsNothing", func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			r := execWithin(ctx, t, c, backend.ExecSpec{Cmd: []string{"touch", "/tmp/must-not-exist"}}, callLimit)
			var te *errs.TimeoutError
			if !errors.As(r.err, &te) {
				t.Errorf("Exec with a cancelled context: got %T (%v), want *errs.TimeoutError", r.err, r.err)
			} else if !errors.Is(r.err, context.Canceled) {
				t.Errorf("TimeoutError %v: errors.Is(err, context.Canceled) is false, want true", r.err)
			}
			if res := run(t, c, backend.ExecSpec{Cmd: []string{"test", "-e", "/tmp/must-not-exist"}}); res.ExitCode == 0 {
				t.Errorf("file the command would create: exists, want none (a command whose context had expired must not run)")
			}
		})

		t.Run("EmptyCommandIsAnError", func(t *testing.T) {
			t.Parallel()
			r := execWithin(t.Context(), t, c, backend.ExecSpec{}, callLimit)
			if r.err == nil {
				t.Errorf("Exec with no command: got exit code %d and no error, want an error", r.res.ExitCode)
			}
		})
	})

	// Each case runs a shell that starts a 300 s sleep and waits for it,
	// then lets the limit expire. The backend must kill the shell and its
	// child before it returns the *errs.TimeoutError.
	kills := []struct {
		name        string
		timeout     time.Duration // ExecSpec.Timeout
		ctxDeadline time.Duration // a context deadline instead
		cancel      bool          // cancel the context once the command runs
		wantIs      error         // the cause the TimeoutError must wrap, if any
	}{
		{name: "Timeout", timeout: 300 * time.Millisecond},
		// A limit that strikes while the backend is still starting the
		// process: the process must not start and run on afterwards.
		{name: "ImmediateTimeout", timeout: time.Millisecond},
		{name: "ContextDeadline", ctxDeadline: 300 * time.Millisecond, wantIs: context.DeadlineExceeded},
		{name: "ContextCancel", cancel: true, wantIs: context.Canceled},
	}
	for _, tc := range kills {
		t.Run("KillsProcessTreeOn"+tc.name, func(t *testing.T) {
			t.Parallel()
			sess := s.newSession(t, s.backend(t), selfOwner())
			c := s.start(t, sess, backend.ContainerSpec{Name: "victim"})
			spec := backend.ExecSpec{
				Cmd:     []string{"sh", "-c", "echo $$ > /tmp/p; sleep 300 & echo $! > /tmp/c; wait"},
				Timeout: tc.timeout,
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.ctxDeadline > 0 {
				ctx, cancel = context.WithTimeout(t.Context(), tc.ctxDeadline)
				defer cancel()
			}

			done := make(chan execResult, 1)
			go func() {
				start := time.Now()
				res, err := c.Exec(ctx, spec)
				done <- execResult{res: res, err: err, elapsed: time.Since(start)}
			}()
			if tc.cancel {
				// Cancel only once the tree exists, so the kill has
				// something to kill.
				eventually(t, waitFor, "the command to write its PIDs", func() (bool, string) {
					res := run(t, c, backend.ExecSpec{Cmd: []string{"cat", "/tmp/p", "/tmp/c"}})
					return res.ExitCode == 0 && len(strings.Fields(string(res.Stdout))) == 2,
						fmt.Sprintf("exit code %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
				})
				cancel()
			}
			var r execResult
			select {
			case r = <-done:
			case <-time.After(killLimit + time.Second):
				t.Fatalf("Exec past its limit: still running after %s, want it to return promptly with *errs.TimeoutError", killLimit)
			}

			var te *errs.TimeoutError
			if !errors.As(r.err, &te) {
				t.Fatalf("Exec past its limit: got %T (%v) with exit code %d, want *errs.TimeoutError", r.err, r.err, r.res.ExitCode)
			}
			if tc.timeout > 0 {
				if te.Timeout != tc.timeout {
					t.Errorf("TimeoutError.Timeout: got %s, want the ExecSpec.Timeout %s", te.Timeout, tc.timeout)
				}
				if r.elapsed < tc.timeout {
					t.Errorf("Exec with Timeout %s: returned after %s, want no sooner than the limit", tc.timeout, r.elapsed)
				}
			}
			if r.elapsed > killLimit {
				t.Errorf("Exec past its limit: returned after %s, want within %s", r.elapsed, killLimit)
			}
			if tc.wantIs != nil && !errors.Is(r.err, tc.wantIs) {
				t.Errorf("TimeoutError %v: errors.Is(err, %v) is false, want true", r.err, tc.wantIs)
			}

			// ps sees the whole tree, whether or not the shell got as far as
			// writing its PIDs before the limit struck.
			ps := run(t, c, backend.ExecSpec{Cmd: []string{"ps", "-o", "pid,stat,args"}})
			var live []string
			for _, line := range strings.Split(string(ps.Stdout), "\n") {
				f := strings.Fields(line)
				if len(f) >= 3 && strings.Contains(line, "sleep 300") && !strings.HasPrefix(f[1], "Z") {
					live = append(live, strings.TrimSpace(line))
				}
			}
			if len(live) > 0 {
				t.Errorf("processes of the timed-out command after Exec returned: got %q, want none; ps:\n%s", live, ps.Stdout)
			}
			// With the PIDs written, check those processes by number too.
			shell, child := readPID(t, c, "/tmp/p"), readPID(t, c, "/tmp/c")
			if tc.cancel && (shell == "" || child == "") {
				t.Fatalf("PIDs written by the command: got shell %q, child %q; want both (the test waited for them)", shell, child)
			}
			if shell != "" {
				if res := run(t, c, backend.ExecSpec{Cmd: []string{"kill", "-0", shell}}); res.ExitCode == 0 {
					t.Errorf("kill -0 %s (the timed-out shell): got exit code 0, want a failure (the shell should be gone)", shell)
				}
			}
			if child != "" {
				if state, ok := procState(t, c, child); ok && state != "Z" {
					t.Errorf("child sleep (pid %s) of the timed-out shell: got state %s, want it gone (or a zombie)", child, state)
				}
			}
		})
	}
}

// readPID returns the PID a command wrote to file, or "" when it did not get
// that far.
func readPID(t *testing.T, c backend.Container, file string) string {
	t.Helper()
	res := run(t, c, backend.ExecSpec{Cmd: []string{"cat", file}})
	pid := strings.TrimSpace(string(res.Stdout))
	if res.ExitCode != 0 || pid == "" {
		return ""
	}
	if _, err := strconv.Atoi(pid); err != nil {
		t.Fatalf("%s: got %q, want a PID", file, pid)
	}
	return pid
}

// procState returns the state letter of a process in the container from
// /proc/PID/stat; ok is false when the process does not exist.
func procState(t *testing.T, c backend.Container, pid string) (state string, ok bool) {
	t.Helper()
	if _, err := strconv.Atoi(pid); err != nil {
		t.Fatalf("pid %q is not a number", pid)
	}
	res := run(t, c, backend.ExecSpec{Cmd: []string{"cat", "/proc/" + pid + "/stat"}})
	if res.ExitCode != 0 {
		return "", false
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces; the first is the state.
	stat := string(res.Stdout)
	i := strings.LastIndexByte(stat, ')')
	var f []string
	if i >= 0 {
		f = strings.Fields(stat[i+1:])
	}
	if len(f) == 0 {
		t.Fatalf("/proc/%s/stat: got %q, want pid (comm) state ...", pid, stat)
	}
	return f[0], true
}

func checkZeros(t *testing.T, stream string, got []byte, want int) {
	t.Helper()
	if len(got) != want {
		t.Errorf("%s: got %d bytes, want %d", stream, len(got), want)
		return
	}
	if i := bytes.IndexFunc(got, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("%s: got a non-zero byte at offset %d, want only the zeros written", stream, i)
	}
}

// clip shortens output for failure messages.
func clip(b []byte) string {
	const max = 200
	if len(b) > max {
		return fmt.Sprintf("%s… (%d bytes)", b[:max], len(b))
	}
	return string(b)
}

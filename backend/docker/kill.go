package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// killExec kills an exec'd process and everything it started. The engine has
// no API for this (an exec cannot be stopped), so cleanroom does it itself:
//
//   - When the engine runs on this machine, the exec's PID (which the engine
//     reports in the host's PID namespace) is visible in /proc. The tree is
//     stopped first, so nothing can fork while it is being collected, and
//     then killed.
//   - Without permission to signal it (the engine runs as root, the runner
//     does not), the kill runs inside the container, addressed by the PIDs
//     the tree has in the container's namespace (NSpid), which works when
//     the image has a kill command. An engine on another machine is out of
//     reach: its PIDs mean nothing in this machine's /proc.
func (c *dockerContainer) killExec(ctx context.Context, execID string) error {
	info, err := c.startedExec(ctx, execID)
	if err != nil {
		return err
	}
	if !info.Running {
		return nil // it exited on its own
	}
	if belongsTo(info.PID, c.id) {
		if err := killTree(info.PID); err == nil {
			return nil
		} else if !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	// Remote engine or no permission: kill from inside the container.
	return c.killInContainer(ctx, execID, info.PID)
}

// execStartWait bounds how long killExec waits for an exec's process to
// exist. Starting a process takes the engine milliseconds, seconds when it
// is loaded; an exec whose start request never reached the engine (the
// attach was cut short) never gets one.
const execStartWait = 5 * time.Second

// startedExec inspects an exec until the engine reports its PID.
//
// The engine answers the attach before it starts the process and records
// the PID later still: right after ExecAttach an exec is Running with PID 0.
// Taking PID 0 for "nothing to kill" would let a timeout that comes early
// (a few ms, or 300 ms on a loaded engine) report a killed process while it
// and its children run on.
func (c *dockerContainer) startedExec(ctx context.Context, execID string) (client.ExecInspectResult, error) {
	deadline := time.Now().Add(execStartWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		info, err := c.b.cli.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return info, fmt.Errorf("inspect exec: %w", err)
		}
		// The engine keeps the PID after the process exits, so PID 0
		// means not started yet.
		if info.PID != 0 {
			return info, nil
		}
		if time.Now().After(deadline) {
			return info, fmt.Errorf("exec %s has no process after %s; it may yet start", shortID(execID), execStartWait)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return info, fmt.Errorf("waiting for exec %s to start: %w", shortID(execID), ctx.Err())
		}
	}
}

// killInContainer kills host process pid and its descendants with a kill
// run inside the container, addressed by the PIDs they have there (NSpid).
//
// It is the path for a runner without the right to signal the container's
// processes (not root). It names every process of the tree, which /proc
// shows without privileges, and waits for the kill to finish so that Exec
// never reports a process killed that still runs. Unlike killTree it cannot
// SIGSTOP first: a process forked between listing and killing escapes.
func (c *dockerContainer) killInContainer(ctx context.Context, execID string, pid int) error {
	// A PID from the engine names a process of this machine only when the
	// engine runs here; otherwise /proc/PID is some unrelated process.
	if !belongsTo(pid, c.id) {
		return fmt.Errorf("cannot find the process of exec %s (engine not on this machine?)", shortID(execID))
	}
	args := []string{"kill", "-9"}
	for _, p := range append([]int{pid}, descendants(pid)...) {
		nspid, err := namespacePID(p)
		if err != nil {
			continue // exited meanwhile
		}
		args = append(args, strconv.Itoa(nspid))
	}
	if len(args) == 2 {
		return nil // the whole tree exited on its own
	}
	kill, err := c.b.cli.ExecCreate(ctx, c.id, client.ExecCreateOptions{Cmd: args, User: "0"})
	if err != nil {
		return err
	}
	if _, err := c.b.cli.ExecStart(ctx, kill.ID, client.ExecStartOptions{Detach: true}); err != nil {
		return err
	}
	// kill exits non-zero when some process was already gone; the others
	// are dead all the same, so only the wait matters.
	_, err = c.exitCode(ctx, kill.ID)
	return err
}

// descendants lists the processes below pid, level by level.
func descendants(pid int) []int {
	var out []int
	seen := map[int]bool{pid: true}
	for frontier := []int{pid}; len(frontier) > 0; {
		var next []int
		for _, p := range frontier {
			for _, ch := range children(p) {
				if !seen[ch] {
					seen[ch] = true
					next = append(next, ch)
				}
			}
		}
		out = append(out, next...)
		frontier = next
	}
	return out
}

// belongsTo reports whether host process pid runs in the container: its
// cgroup path names the container ID under both cgroup drivers.
func belongsTo(pid int, containerID string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return err == nil && strings.Contains(string(b), containerID)
}

// killTree SIGSTOPs pid and its descendants until the set stops growing, then
// SIGKILLs them all. Stopping first closes the race in which a child forks
// (or is reparented to the container's init) between listing and killing.
func killTree(pid int) error {
	stopped := map[int]bool{}
	frontier := []int{pid}
	for len(frontier) > 0 {
		var next []int
		for _, p := range frontier {
			if stopped[p] {
				continue
			}
			if err := syscall.Kill(p, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
			stopped[p] = true
			next = append(next, children(p)...)
		}
		frontier = next
	}
	for p := range stopped {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	return nil
}

// children lists the direct children of pid from /proc/PID/task/*/children.
func children(pid int) []int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// namespacePID reads the innermost PID of a host process from
// /proc/PID/status (the last field of NSpid).
func namespacePID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[len(f)-1])
		}
	}
	return 0, errors.New("no NSpid in status")
}

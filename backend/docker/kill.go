package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
)

// killExec kills an exec'd process and everything it started. The engine has
// no API for this (an exec cannot be stopped), so cleanroom does it itself:
//
//   - When the engine runs on this machine, the exec's PID (which the engine
//     reports in the host's PID namespace) is visible in /proc. The tree is
//     stopped first, so nothing can fork while it is being collected, and
//     then killed.
//   - Otherwise the kill runs inside the container, addressed by the PID the
//     process has in the container's namespace (NSpid), which works when the
//     image has a kill command.
func (c *dockerContainer) killExec(ctx context.Context, execID string) error {
	info, err := c.b.cli.ExecInspect(ctx, execID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect exec: %w", err)
	}
	if !info.Running || info.PID == 0 {
		return nil
	}
	if belongsTo(info.PID, c.id) {
		if err := killTree(info.PID); err == nil {
			return nil
		} else if !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	// Remote engine or no permission: kill from inside the container.
	nspid, err := namespacePID(info.PID)
	if err != nil {
		return fmt.Errorf("cannot find the process of exec %s (engine not on this machine?): %w", shortID(execID), err)
	}
	kill, err := c.b.cli.ExecCreate(ctx, c.id, client.ExecCreateOptions{Cmd: []string{"kill", "-9", strconv.Itoa(nspid)}, User: "0"})
	if err != nil {
		return err
	}
	_, err = c.b.cli.ExecStart(ctx, kill.ID, client.ExecStartOptions{Detach: true})
	return err
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

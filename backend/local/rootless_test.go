package local_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/rootlesstest"
	"github.com/cleanroomhq/cleanroom/policy"
)

// TestRootless runs this package's sandbox tests again as a user that is
// not root (rootlesstest.User, with subordinate ids): the conformance
// suite, the runner's death, a timed-out exec's detached processes, and
// what a rootless sandbox is (TestRootlessSandbox).
func TestRootless(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	r := rootlesstest.New(t)
	r.RunTests("^(TestConformance|TestRunnerKilled|TestExecTimeoutKillsDetachedProcesses|TestRootlessSandbox|TestRootlessHolderDies)$",
		"TestConformance", "TestRunnerKilled", "TestExecTimeoutKillsDetachedProcesses", "TestRootlessSandbox", "TestRootlessHolderDies")
}

// TestRootlessSandbox checks, from inside and outside a sandbox of a
// runner that is not root, what docs/backends.md says of one: root inside
// is the runner's user outside, the host's files stay as they are, the
// process limit holds, limits it cannot enforce are refused, and nothing
// of the session runs as the machine's root. Only the rootless run
// (TestRootless) runs it.
func TestRootlessSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	if os.Geteuid() == 0 {
		t.Skip("the rootless run of TestRootless runs this")
	}
	ctx := t.Context()
	dir := stateDir(t)
	b := newBackend(t, dir, local.WithPath(toolbox(t)))
	if !b.Rootless() {
		t.Fatal("the backend of a user that is not root says it is not rootless")
	}
	sess, id := newSession(t, b)
	shared := t.TempDir()
	c, err := sess.Start(ctx, backend.ContainerSpec{Name: "box", Cmd: []string{"sleep", "86400"},
		Binds: map[string]string{"/shared": shared}, Policy: policy.Policy{Pids: 24}})
	if err != nil {
		t.Fatal(err)
	}
	sh := func(script string) (string, int) {
		t.Helper()
		res, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", script}, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return strings.TrimSpace(string(res.Stdout) + string(res.Stderr)), res.ExitCode
	}

	// Root inside, this user outside: what it makes in a shared
	// directory is this user's on the host.
	if out, code := sh("id -u; touch /shared/made-inside"); out != "0" || code != 0 {
		t.Errorf("id -u inside: %q (exit %d), want 0", out, code)
	}
	st, err := os.Stat(filepath.Join(shared, "made-inside"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
		t.Errorf("a file root made inside is uid %d's on the host, want %d (the runner's)", uid, os.Geteuid())
	}
	// Nothing of the session runs as the machine's root: neither the
	// holder nor the sandbox's processes.
	containers, networks := b.Resources(id)
	if len(networks) == 0 {
		t.Errorf("Resources lists no network namespace for a live rootless session")
	}
	for _, res := range containers {
		pid, ok := strings.CutPrefix(res, "pid:")
		if !ok {
			continue
		}
		if uid := procUID(t, pid); uid == 0 {
			t.Errorf("sandbox process %s runs as the machine's root", pid)
		}
	}

	// No way out of the exec's time namespace (timens.go): no user
	// namespace, in which a process would have the capabilities to leave
	// it.
	if out, code := sh("unshare -U true"); code == 0 {
		t.Errorf("unshare -U inside: exit 0 (%s), want user namespaces refused", out)
	}
	// /sys read-only with what is mounted below it, the cgroup
	// filesystems covered; the backend's state (every session's control
	// sockets) hidden although it lies under the working directory here.
	if out, _ := sh(`awk '$5 ~ "^/sys" && $6 !~ "^ro" {print $5}' /proc/self/mountinfo; ls -A /sys/fs/cgroup`); out != "" {
		t.Errorf("/sys inside: writable mounts or cgroup files %q, want none", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Fatalf("the state directory %s is empty on the host", dir)
	}
	if out, _ := sh("ls -A " + dir); out != "" {
		t.Errorf("the state directory %s inside lists %q, want it hidden", dir, out)
	}
	// The init leads a session of its own: no terminal of the runner's to
	// type into.
	for _, res := range containers {
		if pid, ok := strings.CutPrefix(res, "pid:"); ok && !sessionLeader(t, pid) {
			t.Errorf("sandbox process %s is not a session leader", pid)
		}
	}

	// The host's files are read, not written: the user namespace does not
	// map their owner. New files are the sandbox's, in its overlay.
	if out, code := sh("echo x >> /etc/passwd"); code == 0 {
		t.Errorf("appending to /etc/passwd inside: exit 0 (%s), want a refusal", out)
	}
	name := "cleanroom-rootless-" + id[len(id)-8:]
	if out, code := sh("echo new > /etc/" + name + " && cat /etc/" + name); out != "new" || code != 0 {
		t.Errorf("a new file in /etc inside: %q (exit %d), want it written", out, code)
	}
	if _, err := os.Stat("/etc/" + name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file made in the sandbox's /etc reached the host's: %v", err)
	}
	if out, _ := sh("ls -A /root /home; test -e /var/run/docker.sock && echo docker"); out != "/home:\n\n/root:" {
		t.Errorf("host state inside: %q, want /root and /home empty and no Docker socket", out)
	}

	// The network is the session's loopback, not the host's: a port this
	// runner listens on here is not reachable inside.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if out, code := sh(fmt.Sprintf("nc -w 1 127.0.0.1 %d </dev/null && echo reached", port)); code == 0 || strings.Contains(out, "reached") {
		t.Errorf("the host's 127.0.0.1:%d from inside: %q (exit %d), want unreachable", port, out, code)
	}

	stats, err := c.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if stats.Pids < 1 || stats.Memory <= 0 || stats.PidsLimit != 24 {
		t.Errorf("Stats: %+v, want the sleep counted, its memory, and the limit 24", stats)
	}

	// The process limit: 24 processes (and threads) of root in the
	// sandbox. A loop that starts 60 background sleeps is refused part of
	// them once the limit is full; the init lives on, and the limit is
	// this sandbox's, not the session's.
	type result struct {
		res backend.ExecResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.Exec(ctx, backend.ExecSpec{Timeout: 3 * time.Second, Cmd: []string{"sh", "-c",
			"i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; wait"}})
		done <- result{res, err}
	}()
	var most int64
	var r result
poll:
	for {
		select {
		case r = <-done:
			break poll
		case <-time.After(20 * time.Millisecond):
			if st, err := c.Stats(ctx); err == nil && st.Pids > most {
				most = st.Pids
			}
		}
	}
	var te *errs.TimeoutError
	if r.err != nil && !errors.As(r.err, &te) {
		t.Errorf("the exec that started 60 sleeps: %v", r.err)
	}
	if most > 24 || most < 12 || !strings.Contains(string(r.res.Stderr), "fork") {
		t.Errorf("60 background processes under a limit of 24: at most %d ran; stderr:\n%s\nwant up to 24, and the rest refused (can't fork)", most, r.res.Stderr)
	}
	if _, err := c.CopyFrom(ctx, "/etc/hostname"); err != nil {
		t.Errorf("the init after the refused forks: %v, want it serving", err)
	}
	if st, err := c.State(ctx); err != nil || !st.Running {
		t.Errorf("the container after the refused forks: %+v, %v; want it running", st, err)
	}
	other, err := sess.Start(ctx, backend.ContainerSpec{Name: "other", Cmd: []string{"sleep", "86400"}, Policy: policy.Policy{Pids: 24}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := other.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", "echo ok | cat"}}); err != nil || strings.TrimSpace(string(res.Stdout)) != "ok" {
		t.Errorf("another sandbox of the session while the first is full: %+v, %v; want it to fork freely", res, err)
	}

	// The limit holds for all the sandbox's users together: five users
	// starting 20 processes each do not get 24 each. (The init's threads
	// come out of an allowance of 24 on top, nproc.go.)
	if b.Restrictions().Users == "" {
		users, err := sess.Start(ctx, backend.ContainerSpec{Name: "users", Cmd: []string{"sleep", "86400"}, Policy: policy.Policy{Pids: 24}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan result, 1)
		go func() {
			res, err := users.Exec(ctx, backend.ExecSpec{Timeout: 3 * time.Second, Cmd: []string{"sh", "-c",
				`for u in 1001 1002 1003 1004 1005; do /usr/bin/setpriv --reuid=$u --regid=$u --clear-groups sh -c 'i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; wait' & done; wait`}})
			done <- result{res, err}
		}()
		var most int64
		var r result
	users:
		for {
			select {
			case r = <-done:
				break users
			case <-time.After(20 * time.Millisecond):
				if st, err := users.Stats(ctx); err == nil && st.Pids > most {
					most = st.Pids
				}
			}
		}
		t.Logf("five users under a limit of 24 for all: at most %d processes", most)
		if most > 48 || most < 20 {
			t.Errorf("five users under a limit of 24 for all: at most %d processes ran, want 20 to 48 (not 24 each); exec: %v, stderr:\n%s", most, r.err, r.res.Stderr)
		}
	}

	// Limits without a cgroup to enforce them are refused, not ignored.
	for _, p := range []policy.Policy{{Memory: 64 << 20}, {CPUs: 0.5}} {
		_, err := sess.Start(ctx, backend.ContainerSpec{Name: "limited", Cmd: []string{"sleep", "1"}, Policy: p})
		if err == nil || !strings.Contains(err.Error(), "cgroup") {
			t.Errorf("Start with %s: got %v, want a refusal naming the missing cgroup", p.Describe(), err)
		}
	}
}

// sessionLeader says whether a process leads its own session, from field
// 6 of its stat file.
func sessionLeader(t *testing.T, pid string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		t.Fatalf("reading the stat of %s: %v", pid, err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 3 && f[3] == pid
}

// procUID is the real uid of a process, from its status file.
func procUID(t *testing.T, pid string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return -1 // gone
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, _ := strconv.Atoi(strings.Fields(v)[0])
			return uid
		}
	}
	return -1
}

// TestRootlessUnderEngine runs TestRootlessEtcMounts as the rootless user
// on a machine as a container engine makes it: /etc/hostname and
// /etc/resolv.conf mounts of their own (in a mount namespace of the
// test's, so the machine's mounts do not change).
func TestRootlessUnderEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	r := rootlesstest.New(t)
	var binds [][2]string
	for _, f := range []string{"/etc/hostname", "/etc/resolv.conf"} {
		src := filepath.Join(t.TempDir(), filepath.Base(f))
		if err := os.WriteFile(src, []byte("from the engine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(src), 0o755); err != nil {
			t.Fatal(err)
		}
		binds = append(binds, [2]string{src, f})
	}
	r.RunTestsWithMounts(binds, "^TestRootlessEtcMounts$", "TestRootlessEtcMounts")
}

// TestRootlessEtcMounts: with mounts below /etc, which the composed root
// then puts together file by file, a sandbox's /etc is still its own to
// write: its host name, files copied in, files replaced and made. Only the
// run of TestRootlessUnderEngine runs it.
func TestRootlessEtcMounts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	if os.Geteuid() == 0 {
		t.Skip("TestRootlessUnderEngine runs this as a user that is not root")
	}
	if b, _ := os.ReadFile("/etc/hostname"); string(b) != "from the engine\n" {
		t.Skip("no mount at /etc/hostname here: TestRootlessUnderEngine makes one")
	}
	ctx := t.Context()
	b := newBackend(t, stateDir(t), local.WithPath(toolbox(t)))
	sess, _ := newSession(t, b)
	c, err := sess.Start(ctx, backend.ContainerSpec{Name: "box", Cmd: []string{"sleep", "86400"},
		Files: []backend.File{{Path: "/etc/app.conf", Content: []byte("conf\n"), Mode: 0o640}}})
	if err != nil {
		t.Fatalf("Start with mounts below /etc: %v", err)
	}
	for _, step := range []struct{ script, want string }{ // in order: later ones see what earlier ones wrote
		{"cat /etc/hostname", "box"},
		{"cat /etc/resolv.conf", "from the engine"},
		{"cat /etc/app.conf; stat -c %a /etc/app.conf", "conf\n640"},
		{"echo more >> /etc/resolv.conf && tail -1 /etc/resolv.conf", "more"},
		{"echo new > /etc/made-inside && cat /etc/made-inside", "new"},
		{"grep -c '^root:' /etc/passwd", "1"},
	} {
		res, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", step.script}})
		if err != nil {
			t.Fatalf("%s: %v", step.script, err)
		}
		if got := strings.TrimSpace(string(res.Stdout)); got != step.want || res.ExitCode != 0 {
			t.Errorf("%s: %q (exit %d, stderr %q), want %q", step.script, got, res.ExitCode, res.Stderr, step.want)
		}
	}
	if b, _ := os.ReadFile("/etc/resolv.conf"); string(b) != "from the engine\n" {
		t.Errorf("the sandbox's write reached the host's /etc/resolv.conf: %q", b)
	}
}

// TestRootlessHolderDies: a holder that dies before it is ready (here a
// newuidmap kills it, and says it succeeded) is an error of NewSession, at
// once, not a wait.
// The rootless run of TestRootless runs it.
func TestRootlessHolderDies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	if os.Geteuid() == 0 {
		t.Skip("the rootless run of TestRootless runs this")
	}
	fake := t.TempDir()
	for _, prog := range []string{"newuidmap", "newgidmap"} {
		if err := os.WriteFile(filepath.Join(fake, prog), []byte("#!/bin/sh\nkill -9 \"$1\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", fake+":"+os.Getenv("PATH"))
	b := newBackend(t, stateDir(t))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	id := uuid.Must(uuid.NewV7()).String()
	t0 := time.Now()
	sess, err := b.NewSession(ctx, backend.SessionSpec{ID: id, Labels: map[string]string{backend.LabelSession: id}})
	if err == nil {
		_ = sess.Close(context.Background())
		t.Skip("this user has no subordinate ids: newuidmap is not used")
	}
	t.Logf("NewSession: %v", err)
	if ctx.Err() != nil || time.Since(t0) > 10*time.Second {
		t.Errorf("NewSession with a holder that died: %v after %v, want an error at once", err, time.Since(t0))
	}
	if !strings.Contains(err.Error(), "holder") || !strings.Contains(err.Error(), "killed") {
		t.Errorf("NewSession with a holder that died: %v, want it to say the holder was killed", err)
	}
	if containers, networks := b.Resources(id); len(containers)+len(networks) > 0 {
		t.Errorf("after the failed NewSession: containers %v, networks %v left", containers, networks)
	}
}

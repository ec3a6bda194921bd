package local_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/policy"
)

// TestSandboxIsolation checks, from inside a sandbox, what docs/backends.md
// says a sandbox is: namespaces of its own, the host's state hidden, a
// minimal /dev, /sys without cgroups, the engine's capability set for every
// process (exec'd ones too), and its cpu limit in its cgroup.
func TestSandboxIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	ctx := t.Context()
	dir := stateDir(t)
	b := newBackend(t, dir)
	sess, id := newSession(t, b)
	c, err := sess.Start(ctx, backend.ContainerSpec{Name: "box", Cmd: []string{"sleep", "86400"},
		Policy: policy.Policy{CPUs: 0.5, Pids: 64}})
	if err != nil {
		t.Fatal(err)
	}
	sh := func(script string) string {
		t.Helper()
		res, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", script}, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return strings.TrimSpace(string(res.Stdout))
	}

	for _, ns := range []string{"ipc", "uts", "mnt", "pid", "net"} {
		host, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		if got := sh("readlink /proc/self/ns/" + ns); got == host || got == "" {
			t.Errorf("%s namespace: sandbox %q, host %q; want one of its own", ns, got, host)
		}
	}
	// The init leads a session of its own, without the runner's terminal
	// (whose input TIOCSTI could fill).
	containers, _ := b.Resources(id)
	leaders := 0
	for _, res := range containers {
		if pid, ok := strings.CutPrefix(res, "pid:"); ok && sessionLeader(t, pid) {
			leaders++
		}
	}
	if leaders == 0 {
		t.Errorf("no process of %v leads a session; want the sandbox's init to", containers)
	}
	if got := sh("hostname"); got != "box" {
		t.Errorf("hostname: got %q, want box", got)
	}
	// Its init, sleep, and this exec's sh and ps.
	if got, _ := strconv.Atoi(sh("ps -e -o pid= | wc -l")); got < 2 || got > 6 {
		t.Errorf("processes seen: %d, want only the sandbox's few", got)
	}
	// The host's state: present on the host, absent or empty inside.
	hidden := map[string]string{
		"/etc/shadow":          "wc -c < /etc/shadow",
		"/var/run/docker.sock": "test -e /var/run/docker.sock && echo present || echo absent",
		"/etc/ssh":             "ls -A /etc/ssh | wc -l",
		"/root":                "ls -A /root | wc -l",
	}
	want := map[string]string{"/etc/shadow": "0", "/var/run/docker.sock": "absent", "/etc/ssh": "0", "/root": "0"}
	for path, script := range hidden {
		if _, err := os.Stat(path); err != nil {
			continue // nothing on this host to hide
		}
		if got := sh(script); got != want[path] {
			t.Errorf("%s inside: %q, want %q (hidden)", path, got, want[path])
		}
	}
	if got := sh("ls /dev | tr '\\n' ' '"); got != "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero" {
		t.Errorf("/dev: %q, want only the harmless devices", got)
	}
	if got := sh("ls -A /sys/fs/cgroup 2>/dev/null | wc -l"); got != "0" {
		t.Errorf("/sys/fs/cgroup inside lists %s entries, want none", got)
	}
	if got := sh("touch /sys/x 2>&1; echo $?"); !strings.HasSuffix(got, "1") {
		t.Errorf("writing under /sys: %q, want a failure", got)
	}
	// Every process, exec'd ones included, has the engine's default set:
	// 0x00000000a80425fb.
	if got := sh("grep CapBnd /proc/self/status"); !strings.HasSuffix(got, "00000000a80425fb") {
		t.Errorf("CapBnd of an exec'd process: %q, want the default set 00000000a80425fb", got)
	}

	// The limits are the container cgroup's, where its processes are.
	quota := findCgroupFile(t, "cpu", id, "cpu.cfs_quota_us")
	if quota != "50000" {
		t.Errorf("cpu.cfs_quota_us: %q, want 50000 (cpus 0.5)", quota)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.PidsLimit != 64 {
		t.Errorf("Stats: pids limit %d, %v; want 64", st.PidsLimit, err)
	}
}

// findCgroupFile reads file of the one container cgroup of session in the
// v1 controller (skipping the init's, "….init").
func findCgroupFile(t *testing.T, controller, session, file string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", controller, "**", "cleanroom", session, "*", file))
	if len(matches) == 0 {
		// The runner's own cgroup may be the hierarchy's root.
		matches, _ = filepath.Glob(filepath.Join("/sys/fs/cgroup", controller, "cleanroom", session, "*", file))
	}
	for _, m := range matches {
		if !strings.HasSuffix(filepath.Dir(m), ".init") {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
	}
	t.Skipf("no %s cgroup v1 file %s for the session here (cgroup v2?)", controller, file)
	return ""
}

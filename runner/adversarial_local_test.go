package runner

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/suite"
)

// The adversarial rows of adversarial_test.go on the local backend: the
// same attacks, with the policy that must stop them and without it, where
// the containers are sandboxed processes of this machine. A suite runs as
// `cleanroom run --backend local` runs it (CheckBackend finds nothing it
// cannot run), with busybox's applets first on every sandbox's PATH (the
// commands the suites name: sh, ps, httpd, nc, ...), and the rows check
// that nothing of a session is left afterwards: no sandbox process, cgroup
// or state directory.
//
// A row whose assertions hold on both backends is one function of
// adversarial_test.go (forkBombRows, memoryHogRows, ...) that takes the
// way to run a suite: the tests below pass (*localRig).run. Where the
// backends differ, a parameter says so:
//   - forkBombRows(..., sandboxInit true): the bomb must not take the
//     sandbox's init with it, which an engine's containers do not have.
//   - capabilityRows(..., "0"): the local backend applies no seccomp
//     filter, so a strict step shows Seccomp 0 where Docker's shows 2.
//
// Rows of adversarial_test.go that do not apply here, and why:
//   - "outside, bridge" (reached under network "bridge"): the local backend
//     has no network to the host, so "bridge" is refused before anything
//     starts; TestLocalAdversarialNetwork checks the refusal instead.
//   - "isolated has an interface" (eth0 besides lo): a session's network
//     here is loopback only, so "isolated" and "none" both list lo alone;
//     what "none" takes away is the session's loopback, which the rows
//     "own environment" check by reaching a service or not.
//   - the targets of TestAdversarialNetwork are containers' addresses on
//     engine networks (containerIP); here the other environment's server
//     and this machine's own listener stand for them.
//
// Rows only here, for what a sandbox of this machine's root directory must
// stop that an image and an engine stop by themselves: a read-only root
// covers the directories a sandbox gets empty (/tmp, /run, ...); /proc/sys
// (the machine's kernel settings) is read-only and a device node made in
// the sandbox opens nothing, unless SYS_ADMIN is granted; and what the
// capabilities and no_new_privileges stop in practice (chown, a set-user-ID
// program).

// localRig is a local backend for one test and its subtests.
type localRig struct {
	b *local.Backend
}

func newLocalRig(t *testing.T) *localRig {
	t.Helper()
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	if err := local.Available(); err != nil {
		t.Fatalf("the local backend cannot run here: %v", err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox not found (%v): run scripts/local-deps.sh, which installs Debian's busybox-static", err)
	}
	tools := t.TempDir()
	if out, err := exec.Command(bb, "--install", "-s", tools).CombinedOutput(); err != nil {
		t.Fatalf("busybox --install -s %s: %v\n%s", tools, err, out)
	}
	// Short: control sockets live below it, and a socket's path has a
	// limit of 107 bytes.
	state, err := os.MkdirTemp("", "crl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	b, err := local.New(local.WithStateDir(state), local.WithPath(tools))
	if err != nil {
		t.Fatal(err)
	}
	return &localRig{b: b}
}

// parse reads a suite as `cleanroom run --backend local` does, and fails
// the test if the local backend could not run it.
func (r *localRig) parse(t *testing.T, name, src string) *suite.Suite {
	t.Helper()
	s := parseSuite(t, name, src)
	if list := CheckBackend(s, nil, Traits{}); len(list) > 0 {
		t.Fatalf("the local backend cannot run this suite: %v", list)
	}
	return s
}

// run runs one suite given as text on the local backend, and checks that
// it ran there and left nothing behind.
func (r *localRig) run(t *testing.T, name, src string) *report.Suite {
	t.Helper()
	s := r.parse(t, name, src)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := Run(ctx, []*suite.Suite{s}, Options{Env: []cleanroom.Option{cleanroom.WithBackend(r.b)}})
	if run.Backend != local.Name {
		t.Fatalf("the suite ran on %q, want %q", run.Backend, local.Name)
	}
	r.assertNothingLeft(t, run)
	return run.Suites[0]
}

func (r *localRig) assertNothingLeft(t *testing.T, run *report.Run) {
	t.Helper()
	for _, s := range run.Suites {
		if s.Session == "" {
			continue
		}
		if cs, ns := r.b.Resources(s.Session); len(cs)+len(ns) > 0 {
			t.Errorf("suite %s left %q and %q of session %s", s.Name, cs, ns, s.Session)
		}
	}
}

func TestLocalAdversarialForkBomb(t *testing.T) {
	t.Parallel()
	forkBombRows(t, newLocalRig(t).run, true)
}

func TestLocalAdversarialMemoryHog(t *testing.T) {
	t.Parallel()
	memoryHogRows(t, newLocalRig(t).run)
}

func TestLocalAdversarialReadOnlyRootfs(t *testing.T) {
	t.Parallel()
	r := newLocalRig(t)
	readOnlyRootfsRows(t, r.run)
	// The directories a sandbox gets empty (the host's temporary files,
	// runtime state and homes) are mounts of their own: a read-only root
	// must cover them too, as it covers them in an image, while a tmpfs or
	// a volume the policy declares stays writable.
	hidden := []string{"/tmp", "/var/tmp", "/run", "/root", "/home"}
	writeAll := []string{"sh", "-c", "for d in " + strings.Join(hidden, " ") + "; do if echo x 2>/dev/null >$d/pwned; then echo $d writable; else echo $d read-only; fi; done"}
	want := func(state map[string]string) string {
		var b strings.Builder
		for _, d := range hidden {
			fmt.Fprintf(&b, "%s %s\n", d, state[d])
		}
		return b.String()
	}
	t.Run("empty directories stopped by read_only_rootfs", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "ro-hidden-on", oneShot("busybox", `read_only_rootfs = true, tmpfs = { "/tmp" = "1MiB" }, volumes = ["/home"]`, writeAll...)))
		w := want(map[string]string{"/tmp": "writable", "/var/tmp": "read-only", "/run": "read-only", "/root": "read-only", "/home": "writable"})
		if _, stdout, _ := out(st); stdout != w {
			t.Fatalf("status %s, error %q, got:\n%s\nwant:\n%s", st.Status, st.Error, stdout, w)
		}
	})
	t.Run("empty directories writable without", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "ro-hidden-off", oneShot("busybox", ``, writeAll...)))
		w := want(map[string]string{"/tmp": "writable", "/var/tmp": "writable", "/run": "writable", "/root": "writable", "/home": "writable"})
		if _, stdout, _ := out(st); stdout != w {
			t.Fatalf("status %s, error %q, got:\n%s\nwant:\n%s", st.Status, st.Error, stdout, w)
		}
	})
}

func TestLocalAdversarialNetwork(t *testing.T) {
	t.Parallel()
	r := newLocalRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The targets. A web server in another environment, on its session's
	// loopback, at the port the probes below try on theirs.
	const port = 8080
	other, err := cleanroom.New(ctx, cleanroom.WithBackend(r.b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close(context.Background()) })
	p, _ := policy.Preset(policy.Standard)
	spec := generic.Spec("web", "", generic.WithCommand("httpd", "-f", "-p", strconv.Itoa(port)), generic.WithPorts(port))
	spec.Policy = p
	insts, err := other.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// It answers in its own environment (once it listens): "blocked"
	// below is the network's doing, not a server that is not there.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := backend.DialContext(ctx, insts[0].Container, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other environment's server does not answer in its own environment: %v", err)
		}
	}

	// And this machine itself ("the outside"): a listener on all of its
	// addresses, which counts what reaches it.
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var reachedHost atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reachedHost.Add(1)
			c.Close()
		}
	}()
	hostPort := ln.Addr().(*net.TCPAddr).Port
	hostIPs := []string{"127.0.0.1"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				hostIPs = append(hostIPs, ipn.IP.String())
			}
		}
	}
	// The listener answers on this machine: a probe that does not reach
	// it from a sandbox is stopped by the sandbox's network.
	for _, ip := range hostIPs {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(hostPort)), 2*time.Second)
		if err != nil {
			t.Fatalf("this machine's listener does not answer at %s: %v", ip, err)
		}
		c.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); reachedHost.Load() < int64(len(hostIPs)) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	hostBefore := reachedHost.Load()

	t.Run("other environment, isolated", func(t *testing.T) {
		t.Parallel()
		wantProbe(t, r.run, "net-other", oneShot("busybox", `network = "isolated"`, probe("127.0.0.1", port)...), "blocked", nil)
	})
	for _, ip := range hostIPs {
		t.Run("this machine at "+ip+", isolated", func(t *testing.T) {
			t.Parallel()
			wantProbe(t, r.run, "net-host", oneShot("busybox", `network = "isolated"`, probe(ip, hostPort)...), "blocked", nil)
		})
	}
	// The controls of the rows above, and the row of network "none": the
	// same probe, under "isolated", reaches a server of its own
	// environment by name and as 127.0.0.1 at the port it tried in the
	// other environment; under "none" it reaches neither.
	for _, c := range []struct{ name, pol, target, want string }{
		{"own environment by name, isolated (control)", `network = "isolated"`, "web", "reached"},
		{"own environment at 127.0.0.1, isolated (control)", `network = "isolated"`, "127.0.0.1", "reached"},
		{"own environment by name, none", `network = "none"`, "web", "blocked"},
		{"own environment at 127.0.0.1, none", `network = "none"`, "127.0.0.1", "blocked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wantProbe(t, r.run, "net-own", ownEnvSuite(c.pol, c.target), c.want, nil)
		})
	}
	networkNoneRow(t, r.run)
	t.Run("bridge refused", func(t *testing.T) {
		t.Parallel()
		s, err := suite.Parse("bridge.cleanroom.toml", []byte(oneShot("busybox", `network = "bridge"`, probe("127.0.0.1", hostPort)...)))
		if err != nil {
			t.Fatal(err)
		}
		list := CheckBackend(s, nil, Traits{})
		if len(list) != 1 || !strings.Contains(list[0].Error(), `step "attack": network "bridge" needs the Docker backend`) {
			t.Fatalf("CheckBackend: %v: want the step's network \"bridge\" refused", list)
		}
		// Run all the same, the backend refuses it too rather than
		// starting it on another network.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		run := Run(ctx, []*suite.Suite{s}, Options{Env: []cleanroom.Option{cleanroom.WithBackend(r.b)}})
		r.assertNothingLeft(t, run)
		st := only(t, run.Suites[0])
		if _, stdout, _ := out(st); st.Status == report.Passed || stdout != "" || !strings.Contains(st.Error, `network "bridge"`) {
			t.Fatalf("status %s, stdout %q, error %q: want the step refused for its network", st.Status, stdout, st.Error)
		}
	})
	t.Cleanup(func() {
		// After every subtest: nothing reached this machine's listener.
		if n := reachedHost.Load() - hostBefore; n != 0 {
			t.Errorf("this machine's listener was reached %d time(s) from the sandboxes", n)
		}
	})
}

func TestLocalAdversarialCapabilities(t *testing.T) {
	t.Parallel()
	r := newLocalRig(t)
	// The local backend applies no seccomp filter: under any preset a
	// sandbox's Seccomp is 0, where Docker's engine shows 2. The rows
	// after these check what it does enforce in practice.
	capabilityRows(t, r.run, "0")
	// What the capabilities stop: changing a file's owner takes
	// CAP_CHOWN, even for root.
	chown := []string{"sh", "-c", "touch /tmp/f && chown 65534 /tmp/f && stat -c %u /tmp/f"}
	t.Run("chown stopped by cap_drop", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "chown-on", oneShot("busybox", `cap_drop = ["ALL"]`, chown...)))
		if code, _, stderr := out(st); st.Status != report.Failed || code == 0 || !strings.Contains(stderr, "Operation not permitted") {
			t.Fatalf("status %s, exit %d, stderr %q: want chown refused", st.Status, code, stderr)
		}
	})
	t.Run("chown succeeds without", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "chown-off", oneShot("busybox", ``, chown...)))
		if _, stdout, _ := out(st); st.Status != report.Passed || stdout != "65534\n" {
			t.Fatalf("status %s, stdout %q, error %q: want the owner changed", st.Status, stdout, st.Error)
		}
	})
	// What no_new_privs stops: a process that gave up root gets it back
	// by running a set-user-ID root program (a copy of id, which reports
	// its effective user without dropping it).
	setuid := []string{"sh", "-c", "cp /usr/bin/id /opt/id && chmod 4755 /opt/id && /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups /opt/id -u"}
	t.Run("setuid stopped by no_new_privileges", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "nnp-on", oneShot("busybox", `no_new_privileges = true`, setuid...)))
		if _, stdout, stderr := out(st); st.Status != report.Passed || stdout != "65534\n" {
			t.Fatalf("status %s, stdout %q, stderr %q, error %q: want the set-user-ID bit ignored (euid 65534)", st.Status, stdout, stderr, st.Error)
		}
	})
	t.Run("setuid regains root without", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "nnp-off", oneShot("busybox", `no_new_privileges = false`, setuid...)))
		if _, stdout, stderr := out(st); st.Status != report.Passed || stdout != "0\n" {
			t.Fatalf("status %s, stdout %q, stderr %q, error %q: want euid 0 from the set-user-ID program", st.Status, stdout, stderr, st.Error)
		}
	})
	// What leaving out SYS_ADMIN stops: /proc/sys sets the whole
	// machine's kernel (kernel.core_pattern names a program the kernel
	// runs as the machine's root), and root may write it whatever its
	// capabilities; the sandbox has it read-only, as an engine does, which
	// only a process that may mount can undo. The files are opened for
	// writing, never written.
	sysctls := []string{"/proc/sys/kernel/core_pattern", "/proc/sys/vm/swappiness", "/proc/sys/kernel/hostname"}
	openAll := "for f in " + strings.Join(sysctls, " ") + "; do if (: >>$f) 2>/dev/null; then echo $f writable; else echo $f read-only; fi; done"
	sysctlState := func(state string) string {
		var b strings.Builder
		for _, f := range sysctls {
			fmt.Fprintf(&b, "%s %s\n", f, state)
		}
		return b.String()
	}
	t.Run("kernel settings stopped without SYS_ADMIN", func(t *testing.T) {
		t.Parallel()
		// The mount fails too: it takes SYS_ADMIN.
		st := only(t, r.run(t, "sysctl-on", oneShot("busybox", ``, "sh", "-c", "mount -o remount,bind,rw /proc/sys 2>/dev/null; "+openAll)))
		if _, stdout, _ := out(st); stdout != sysctlState("read-only") {
			t.Fatalf("status %s, error %q, got:\n%s\nwant:\n%s", st.Status, st.Error, stdout, sysctlState("read-only"))
		}
	})
	t.Run("kernel settings writable with SYS_ADMIN", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "sysctl-off", oneShot("busybox", `cap_add = ["SYS_ADMIN"]`, "sh", "-c", "mount -o remount,bind,rw /proc/sys && "+openAll)))
		if _, stdout, stderr := out(st); stdout != sysctlState("writable") {
			t.Fatalf("status %s, error %q, stderr %q, got:\n%s\nwant:\n%s", st.Status, st.Error, stderr, stdout, sysctlState("writable"))
		}
	})
	// Also what leaving out SYS_ADMIN stops: a device node made in the
	// sandbox (MKNOD is an engine's default capability) opens nothing,
	// where an engine's device cgroup would refuse a disk: no file system
	// of a sandbox lets device nodes open, besides the devices bound in
	// /dev. The node made is /dev/null's (1, 3), harmless if it opened.
	mknod := "mknod /null2 c 1 3 && if (echo x >/null2) 2>/dev/null; then echo opened; else echo refused; fi; echo x >/dev/null && echo /dev/null works"
	t.Run("device node stopped without SYS_ADMIN", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "mknod-on", oneShot("busybox", ``, "sh", "-c", "mount -o remount,bind,dev / 2>/dev/null; "+mknod)))
		if _, stdout, stderr := out(st); stdout != "refused\n/dev/null works\n" {
			t.Fatalf("status %s, error %q, stderr %q, stdout %q: want the node refused and /dev/null working", st.Status, st.Error, stderr, stdout)
		}
	})
	t.Run("device node opens with SYS_ADMIN", func(t *testing.T) {
		t.Parallel()
		st := only(t, r.run(t, "mknod-off", oneShot("busybox", `cap_add = ["SYS_ADMIN"]`, "sh", "-c", "mount -o remount,bind,dev / && "+mknod)))
		if _, stdout, stderr := out(st); stdout != "opened\n/dev/null works\n" {
			t.Fatalf("status %s, error %q, stderr %q, stdout %q: want the node opened", st.Status, st.Error, stderr, stdout)
		}
	})
}

func TestLocalAdversarialTimeoutLeavesNothing(t *testing.T) {
	t.Parallel()
	timeoutRows(t, newLocalRig(t).run)
}

func TestLocalAdversarialServiceCrash(t *testing.T) {
	t.Parallel()
	serviceCrashRows(t, newLocalRig(t).run)
}

func TestLocalServiceUnhealthy(t *testing.T) {
	t.Parallel()
	serviceUnhealthyRows(t, newLocalRig(t).run)
}

func TestLocalThresholds(t *testing.T) {
	t.Parallel()
	thresholdsRows(t, newLocalRig(t).run)
}

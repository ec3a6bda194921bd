// Package rootlesstest runs a test binary again as a user that is not
// root, for the tests that prove the local backend works without root.
// The user is the one scripts/rootless-user.sh makes (make test runs it):
// it has subordinate ids, which newuidmap maps into its sandboxes.
package rootlesstest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// User is the user the tests run as.
const User = "cleanroom-rootless"

// Runner runs commands as User in a directory of its own.
type Runner struct {
	t        testing.TB
	uid, gid int
	bin      string // a copy of the test binary that User may execute
	// Dir belongs to User: the commands' working directory, HOME and
	// TMPDIR.
	Dir string
}

// New prepares a Runner. The test is skipped when it does not run as
// root (it is the rootless run then, or cannot start one), and fails when
// User is missing.
func New(t testing.TB) *Runner {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: starting another user's run needs root")
	}
	u, err := user.Lookup(User)
	if err != nil {
		t.Fatalf("user %s: %v; scripts/rootless-user.sh makes it (make test runs it)", User, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The test binary lies in a directory of root's alone (go test builds
	// under a 0700 directory): User runs a copy.
	top, err := os.MkdirTemp("", "rootless")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Runner{t: t, uid: uid, gid: gid, bin: filepath.Join(top, filepath.Base(os.Args[0])), Dir: filepath.Join(top, "home")}
	if err := copyFile(os.Args[0], r.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(r.Dir, 0o755); err != nil { // a sandbox's other users read its toolbox
		t.Fatal(err)
	}
	if err := os.Chown(r.Dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return r
}

// Copy copies the tree at src (a file or a directory) to name in Dir, as
// User's: the project may lie where User cannot read.
func (r *Runner) Copy(src, name string) string {
	r.t.Helper()
	dst := filepath.Join(r.Dir, name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.MkdirAll(to, 0o755)
		case info.Mode().IsRegular():
			err = copyFile(p, to, info.Mode().Perm())
		default:
			return nil
		}
		if err != nil {
			return err
		}
		return os.Lchown(to, r.uid, r.gid)
	})
	if err != nil {
		r.t.Fatalf("copying %s for %s: %v", src, User, err)
	}
	return dst
}

// Command runs the test binary with args as User, in Dir, killed with its
// process group when ctx ends.
func (r *Runner) Command(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = r.Dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.Dir, "TMPDIR=" + r.Dir, "LANG=C.UTF-8"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: []uint32{}},
		Setpgid:    true,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// WithMounts is Command in a mount namespace of its own, where each host
// file or directory of binds (source → target) is bound first, as root:
// the machine as a container engine gives it to a program (/etc/hosts,
// /etc/hostname and /etc/resolv.conf are mounts of their own there). The
// machine's own mounts do not change.
func (r *Runner) WithMounts(ctx context.Context, binds [][2]string, env []string, args ...string) *exec.Cmd {
	script := "set -e\n"
	for i := range binds {
		script += fmt.Sprintf("mount --bind \"$%d\" \"$%d\"\n", 2*i+1, 2*i+2)
	}
	script += fmt.Sprintf("shift %d\nexec setpriv --reuid=%d --regid=%d --clear-groups -- \"$@\"\n", 2*len(binds), r.uid, r.gid)
	argv := []string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"}
	for _, b := range binds {
		argv = append(argv, b[0], b[1])
	}
	cmd := r.Command(ctx, env, args...)
	cmd.Args = append(append([]string{"unshare"}, argv...), append([]string{r.bin}, args...)...)
	cmd.Path, _ = exec.LookPath("unshare")
	cmd.SysProcAttr.Credential = nil // root, until setpriv
	return cmd
}

// RunTests runs the tests that match pattern as User and fails t unless
// each of want passed (ran, and not skipped).
func (r *Runner) RunTests(pattern string, want ...string) {
	r.t.Helper()
	r.check(r.Command, pattern, want)
}

// RunTestsWithMounts is RunTests in the mount namespace of WithMounts.
func (r *Runner) RunTestsWithMounts(binds [][2]string, pattern string, want ...string) {
	r.t.Helper()
	r.check(func(ctx context.Context, env []string, args ...string) *exec.Cmd {
		return r.WithMounts(ctx, binds, env, args...)
	}, pattern, want)
}

func (r *Runner) check(command func(context.Context, []string, ...string) *exec.Cmd, pattern string, want []string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), 8*time.Minute)
	defer cancel()
	out, err := command(ctx, nil, "-test.run", pattern, "-test.v", "-test.count=1").CombinedOutput()
	text := string(out)
	if err != nil {
		r.t.Errorf("the tests as %s failed: %v\n%s", User, err, tail(text, 200))
		return
	}
	for _, name := range want {
		if !strings.Contains(text, "--- PASS: "+name+" (") {
			r.t.Errorf("%s did not pass as %s (skipped, or not run):\n%s", name, User, tail(text, 60))
		}
	}
}

// UID is User's uid on this machine.
func (r *Runner) UID() int { return r.uid }

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

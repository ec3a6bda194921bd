package local

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// unescapeMountPath undoes the kernel's escapes in /proc/self/mountinfo
// (a space, tab, newline or backslash in a mount point is written as three
// octal digits after a backslash). A mount point read wrongly is a mount
// the composed root misses: a directory with mounts below it would be
// overlaid whole, which overlayfs refuses in a user namespace.
func TestUnescapeMountPath(t *testing.T) {
	cases := []struct{ in, want string }{
		{`/mnt/my\040disk`, "/mnt/my disk"},
		{`/mnt/a\011b`, "/mnt/a\tb"},
		{`/mnt/a\012b`, "/mnt/a\nb"},
		{`/mnt/a\134b`, `/mnt/a\b`},
		{`\040\040`, "  "},
		// Decoded once: an escaped backslash before digits stays a
		// backslash and the digits.
		{`/mnt/a\134040`, `/mnt/a\040`},
		// Not escapes, kept as they are.
		{`/mnt/a\`, `/mnt/a\`},       // a lone trailing backslash
		{`/mnt/a\04`, `/mnt/a\04`},   // too few digits left
		{`/mnt/a\xyz`, `/mnt/a\xyz`}, // not digits
		{`/mnt/a\089`, `/mnt/a\089`}, // not octal digits
		{`/mnt/a\400`, `/mnt/a\400`}, // above a byte
		{`/mnt/a\+12`, `/mnt/a\+12`}, // a sign is not a digit
		{`/mnt/a\\040`, `/mnt/a\ `},  // the first backslash is kept, the second escape decoded
		{"/var/lib/docker", "/var/lib/docker"},
		{"", ""},
	}
	for _, c := range cases {
		if got := unescapeMountPath(c.in); got != c.want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// hasMountsBelow decides which directories of / are put together entry by
// entry (those with mounts strictly below them) rather than overlaid
// whole. A mount at the directory itself is the directory's content and
// not "below"; a mount of a sibling with the same prefix is not below.
func TestComposerHasMountsBelow(t *testing.T) {
	c := &composer{mounts: []string{"/", "/proc", "/var/lib/docker", "/home/a b", "/srv"}}
	cases := []struct {
		dir  string
		want bool
	}{
		{"/var", true},
		{"/var/", true}, // a trailing slash is the same directory
		{"/var/lib", true},
		{"/var/lib/docker", false}, // exactly at the dir
		{"/var/li", false},         // a prefix of a name, not a directory above it
		{"/v", false},
		{"/var/lib/docker/x", false},
		{"/home", true},
		{"/srv", false}, // a mount at the dir only
		{"/sr", false},
		{"/etc", false},
		{"/", true}, // the root has every other mount below it
	}
	for _, cs := range cases {
		if got := c.hasMountsBelow(cs.dir); got != cs.want {
			t.Errorf("hasMountsBelow(%q) with mounts %q = %v, want %v", cs.dir, c.mounts, got, cs.want)
		}
	}
	if (&composer{}).hasMountsBelow("/var") {
		t.Error("hasMountsBelow with no mounts = true, want false")
	}
}

// As root, ownDir only makes the directory: root's state directory is
// under /run, which no other user can prepare, so nothing is checked, even
// a directory anyone may write.
func TestOwnDirAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the root branch of ownDir; TestOwnDirAsAnotherUser covers the other")
	}
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b", "local")
	if err := ownDir(dir); err != nil {
		t.Fatalf("ownDir(%s): %v", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		t.Fatalf("ownDir(%s) made no directory: %v", dir, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("ownDir(%s) made mode %v, want one for its owner alone", dir, st.Mode().Perm())
	}
	// Existing already: fine, again.
	if err := ownDir(dir); err != nil {
		t.Errorf("ownDir(%s) a second time: %v", dir, err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := ownDir(filepath.Join(open, "local")); err != nil {
		t.Errorf("as root, ownDir under a world-writable directory: %v, want nil (root checks nothing)", err)
	}
	// A file in the way is an error, not a state directory.
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ownDir(filepath.Join(file, "local")); err == nil {
		t.Errorf("ownDir under a regular file = nil, want an error")
	}
}

// ownDirEnv makes the test binary run ownDir on the directory it names
// and print the result ("ok" or "error: ..."), then exit: the non-root
// branch of ownDir, run as another user by TestOwnDirAsAnotherUser.
const ownDirEnv = "CLEANROOM_TEST_OWNDIR"

func init() {
	if dir := os.Getenv(ownDirEnv); dir != "" {
		if err := ownDir(dir); err != nil {
			fmt.Println("error:", err)
		} else {
			fmt.Println("ok")
		}
		os.Exit(0)
	}
}

// A runner that is not root keeps its state under the temporary directory
// (StateDir), where another user could have prepared the path first; ownDir
// refuses a path that someone else could change under it. The checks run
// as uid 65534 in a child process (this binary, copied where that user may
// run it; the build directory is root's alone), set up by root here.
func TestOwnDirAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to set the scene and run the check as another user")
	}
	const uid, other = 65534, 65533 // the runner, and someone else
	st, err := os.Stat("/tmp")
	if err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm()&0o002 == 0 {
		t.Skip("/tmp is not a sticky world-writable directory here")
	}
	bin := copyTestBinary(t)
	run := func(t *testing.T, dir string) string {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Dir = "/"
		cmd.Env = append(os.Environ(), ownDirEnv+"="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("running ownDir(%s) as uid %d: %v: %s", dir, uid, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// base is root's and only root writes it: what is below is the scene.
	base := tempDir(t, 0o755)
	mkdir := func(t *testing.T, p string, mode os.FileMode, owner int) string {
		t.Helper()
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		// Chmod after Mkdir: the umask would take bits from Mkdir's mode.
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("under sticky /tmp: made and accepted", func(t *testing.T) {
		top := filepath.Join("/tmp", fmt.Sprintf("cleanroom-owndir-%d-%s", os.Getpid(), filepath.Base(base)))
		t.Cleanup(func() { os.RemoveAll(top) })
		dir := filepath.Join(top, "local")
		if got := run(t, dir); got != "ok" {
			t.Fatalf("ownDir(%s) as uid %d: %s, want ok", dir, uid, got)
		}
		for _, d := range []string{top, dir} {
			st, err := os.Stat(d)
			if err != nil {
				t.Fatal(err)
			}
			if o := st.Sys().(*syscall.Stat_t).Uid; o != uid || st.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: owner %d mode %v, want %d and a mode for its owner alone", d, o, st.Mode().Perm(), uid)
			}
		}
	})
	t.Run("a directory another user made, writable by all, not sticky", func(t *testing.T) {
		shared := mkdir(t, filepath.Join(base, "shared"), 0o777, 0)
		// The state directory itself, and one below it.
		for _, dir := range []string{shared, filepath.Join(shared, "local")} {
			want := fmt.Sprintf("error: state directory %s: %s is not safe to keep it under", dir, shared)
			if got := run(t, dir); got != want {
				t.Errorf("ownDir(%s) as uid %d:\n  %s\nwant\n  %s", dir, uid, got, want)
			}
		}
	})
	t.Run("a symlink another user made on the path", func(t *testing.T) {
		// The link leads to a directory of the runner's own, so that
		// making the path succeeds and only the check can refuse it.
		target := mkdir(t, filepath.Join(base, "target"), 0o700, uid)
		link := filepath.Join(base, "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(link, "local")
		want := fmt.Sprintf("error: state directory %s: %s is not safe to keep it under", dir, link)
		if got := run(t, dir); got != want {
			t.Errorf("ownDir(%s) as uid %d:\n  %s\nwant\n  %s", dir, uid, got, want)
		}
	})
	t.Run("the runner's own directory, writable by others", func(t *testing.T) {
		open := mkdir(t, filepath.Join(base, "open"), 0o777, uid)
		dir := filepath.Join(open, "local")
		want := fmt.Sprintf("error: state directory %s: %s is writable by others", dir, open)
		if got := run(t, dir); got != want {
			t.Errorf("ownDir(%s) as uid %d:\n  %s\nwant\n  %s", dir, uid, got, want)
		}
	})
	t.Run("a sticky directory another user (not root) made", func(t *testing.T) {
		// Someone else's directory like /tmp, but not root's.
		theirs := mkdir(t, filepath.Join(base, "theirs"), os.ModeSticky|0o777, other)
		dir := filepath.Join(theirs, "local")
		got := run(t, dir)
		if want := "is not safe to keep it under"; !strings.Contains(got, want) {
			t.Errorf("ownDir(%s) as uid %d: %s, want an error saying %q", dir, uid, got, want)
		}
	})
}

// tempDir is a directory of root's with the given mode, removed at the end.
// (t.TempDir's parent is 0700: another user could not reach into it.)
func tempDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d, err := os.MkdirTemp("", "cleanroom-owndir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

// copyTestBinary copies this test binary where any user may run it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(tempDir(t, 0o755), "local.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

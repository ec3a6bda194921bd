// Package browsertest opens pages in a real browser for tests: Debian's
// headless Chromium, installed by scripts/browser.sh. It is how the tests
// check the HTML report as a browser renders it, not only as Go parses it.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// DefaultPath is where Debian's chromium package puts the browser.
const DefaultPath = "/usr/bin/chromium"

// Timeout bounds one browser run; a browser still running then is killed
// with the processes it started.
var Timeout = 60 * time.Second

// Chromium returns the browser to run: $CLEANROOM_CHROMIUM, else
// DefaultPath. When there is none the test fails (CI runs
// scripts/browser.sh first), or under -short is skipped.
func Chromium(t testing.TB) string {
	t.Helper()
	path := DefaultPath
	if p := os.Getenv("CLEANROOM_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		if testing.Short() {
			t.Skipf("no browser at %s (run scripts/browser.sh): %v", path, err)
		}
		t.Fatalf("no browser at %s: run scripts/browser.sh to install Debian's chromium (or set CLEANROOM_CHROMIUM): %v", path, err)
	}
	return path
}

// FileURL is the file:// URL of a local file.
func FileURL(t testing.TB, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// DumpDOM opens the local file path in headless Chromium with a window of
// width×height pixels and returns the document as the browser has it after
// the page loaded (its scripts ran), serialised by the browser and parsed
// again with x/net/html.
func DumpDOM(t testing.TB, path string, width, height int) (string, *html.Node) {
	t.Helper()
	out := run(t, fmt.Sprintf("--window-size=%d,%d", width, height), "--dump-dom", FileURL(t, path))
	doc, err := html.Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("parsing the DOM chromium dumped: %v", err)
	}
	return string(out), doc
}

// Screenshot opens the local file path in headless Chromium and writes a
// PNG of its first width×height pixels to png.
func Screenshot(t testing.TB, path, png string, width, height int) {
	t.Helper()
	abs, err := filepath.Abs(png)
	if err != nil {
		t.Fatal(err)
	}
	run(t, "--screenshot="+abs, fmt.Sprintf("--window-size=%d,%d", width, height), "--hide-scrollbars", FileURL(t, path))
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		t.Fatalf("chromium wrote no screenshot to %s: %v", abs, err)
	}
}

// flags keep Chromium off the network (this machine refuses connections
// that are not to the module proxy or the Debian mirror, and a test must
// not depend on them) and away from any profile but its own.
var flags = []string{
	"--headless",
	"--no-sandbox", // tests run as root, in a container
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-dev-shm-usage", // /dev/shm may be small in a container
}

// run starts Chromium with a fresh profile and the given arguments and
// returns its standard output.
func run(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := runBrowser(Chromium(t), t.TempDir(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runBrowser runs the browser in a process group of its own, killed
// entirely when it outlives Timeout and after it exits, so no renderer or
// zygote is left behind.
func runBrowser(chromium, profile string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, append(append(append([]string{}, flags...), "--user-data-dir="+profile), args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+profile) // nothing written to the real home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		// Whatever of the group still runs (after a normal exit, nothing).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	what := "chromium " + strings.Join(args, " ")
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("%s: no result after %v, killed\nstderr:\n%s", what, Timeout, tail(stderr.String(), 40))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w\nstderr:\n%s", what, err, tail(stderr.String(), 40))
	}
	return stdout.Bytes(), nil
}

// tail keeps the last n lines of s: Chromium's stderr is long and mostly
// about the D-Bus this machine does not run.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package browsertest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHungBrowserIsKilled: a browser that never exits is killed after
// Timeout, with the process it started, and the error says so.
func TestHungBrowserIsKilled(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	fake := filepath.Join(dir, "chromium")
	script := "#!/bin/sh\nsleep 300 &\necho $! > " + pidFile + "\nwait\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	old := Timeout
	Timeout = 2 * time.Second
	t.Cleanup(func() { Timeout = old })

	start := time.Now()
	_, err := runBrowser(fake, t.TempDir(), "--dump-dom", "file:///nowhere")
	if err == nil || !strings.Contains(err.Error(), "no result after 2s, killed") {
		t.Fatalf("err = %v, want the timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("returned after %v, want about 2s", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Gone, or a zombie waiting for init to reap it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser's child %d still runs after the browser was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

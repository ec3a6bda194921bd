package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// killTree is what kills a timed-out exec where a sandbox has neither
// cgroups nor time namespaces (a kernel before 5.6, rootless): it must take
// the command's whole tree, a child that moved to a process group (and
// session) of its own included, as long as it is still in the tree. Run
// here on a tree of this test's own.
func TestKillTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "setsid sleep 301 & sleep 302 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := cmd.Process.Pid
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	var children []int
	t.Cleanup(func() {
		// Whatever this test started and the kill missed.
		for _, p := range append(children, -sh) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		<-waited
	})
	deadline := time.Now().Add(10 * time.Second)
	for len(children) < 2 {
		children = children[:0]
		for pid, p := range procTable() {
			comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
			if p.ppid == sh && string(comm) == "sleep\n" {
				children = append(children, pid)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell %d has %d sleeping children after 10s, want 2", sh, len(children))
		}
		time.Sleep(10 * time.Millisecond)
	}

	killTree(sh)

	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatalf("the shell %d still runs after killTree", sh)
	}
	for _, p := range children {
		// An orphan's zombie is reaped by init at once; a live one is a
		// miss.
		if st, ok := readProcStat(p); ok && st.state != 'Z' {
			t.Errorf("child %d (state %c) still runs after killTree", p, st.state)
		}
	}
}

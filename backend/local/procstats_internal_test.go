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

// noPid is above any pid_max Linux allows (4194304): no process has it.
const noPid = 1 << 30

// readProcStat reads a process's own /proc/PID/stat: this test's process
// has a parent, several threads (the Go runtime's) and resident memory.
func TestReadProcStatSelf(t *testing.T) {
	p, ok := readProcStat(os.Getpid())
	if !ok {
		t.Fatal("readProcStat(own pid) = not ok")
	}
	if p.ppid != os.Getppid() {
		t.Errorf("ppid = %d, want %d", p.ppid, os.Getppid())
	}
	if p.threads < 1 {
		t.Errorf("threads = %d, want at least 1", p.threads)
	}
	if p.rss <= 0 || p.rss%int64(os.Getpagesize()) != 0 {
		t.Errorf("rss = %d, want a positive number of whole pages", p.rss)
	}
	if p.cpu < 0 || p.childCPU < 0 {
		t.Errorf("cpu = %v, childCPU = %v, want neither negative", p.cpu, p.childCPU)
	}
	if _, ok := readProcStat(noPid); ok {
		t.Errorf("readProcStat(%d), a pid no process has = ok, want not ok", noPid)
	}
}

// The command name in /proc/PID/stat is in parentheses and may itself
// hold spaces and parentheses: the fields are counted after the last ")".
// A program named so runs here, and its parent must read as this process.
func TestReadProcStatOddName(t *testing.T) {
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel keeps 15 bytes of the name: this one fits.
	bin := filepath.Join(t.TempDir(), "x) 1 2 (y")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "comm"))
	if string(comm) != "x) 1 2 (y\n" {
		t.Fatalf("the child's name is %q, not the odd one this test needs", comm)
	}
	p, ok := readProcStat(cmd.Process.Pid)
	if !ok {
		t.Fatal("readProcStat(child) = not ok")
	}
	// Counted from the first ")", the fields would be off by two: the
	// parent would read as "2" or "(y".
	if p.ppid != os.Getpid() || p.threads != 1 {
		t.Errorf("readProcStat(child named %q) = ppid %d, threads %d; want ppid %d, 1 thread", comm, p.ppid, p.threads, os.Getpid())
	}
}

// descends walks a process's parents up to root; it must stop at init
// (orphans are reparented to pid 1, so an orphan is no sandbox's), at a
// process it does not know, and on a loop (a snapshot of /proc taken while
// pids are reused may show one).
func TestDescends(t *testing.T) {
	procs := map[int]procStat{
		// a chain: 1 ← 5 ← 10 ← 20 ← 30
		5: {ppid: 1}, 10: {ppid: 5}, 20: {ppid: 10}, 30: {ppid: 20},
		// an orphan, reparented to init
		40: {ppid: 1},
		// a parent missing from the snapshot
		50: {ppid: 45},
		// a loop
		60: {ppid: 61}, 61: {ppid: 60},
		// pid 1 with a parent (as it may appear in a snapshot of another
		// namespace): the walk stops at it all the same
		70: {ppid: 1}, 1: {ppid: 99},
	}
	cases := []struct {
		pid, root int
		want      bool
	}{
		{30, 20, true}, // a child
		{30, 10, true}, // a grandchild
		{30, 5, true},
		{20, 5, true},
		{30, 30, false}, // not below itself
		{10, 30, false}, // an ancestor is not below its descendant
		{30, 40, false}, // another branch
		{30, 7, false},  // nobody's
		{40, 5, false},
		{30, 1, false},  // init's children are never counted: the walk stops at ppid 1
		{40, 1, false},  // likewise the orphan
		{70, 99, false}, // and does not go on past init
		{50, 45, true},  // the direct parent needs no entry of its own
		{50, 40, false}, // but the walk cannot go past a missing one
		{60, 99, false}, // the loop ends
		{60, 61, true},  // and a loop's members are each other's children
		{noPid, 5, false},
	}
	for _, c := range cases {
		done := make(chan bool, 1)
		go func() { done <- descends(procs, c.pid, map[int]bool{c.root: true}) }()
		select {
		case got := <-done:
			if got != c.want {
				t.Errorf("descends(%d, %d) = %v, want %v", c.pid, c.root, got, c.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("descends(%d, %d) did not return", c.pid, c.root)
		}
	}
}

// procStats counts what is below a sandbox's init, not the init: here a
// shell stands for the init, with two sleeps below it, one thread each.
func TestProcStatsChildTree(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := cmd.Process.Pid
	t.Cleanup(func() {
		// The group is the one this test made (Setpgid: its id is the
		// shell's pid); the sleeps are in it.
		_ = syscall.Kill(-sh, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	// Until both sleeps run sleep (not a shell forked to start them).
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			if p, ok := readProcStat(pid); ok && p.ppid == sh && string(comm) == "sleep\n" {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell %d has %d sleeping children after 10s, want 2", sh, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := procStats(sh, 7)
	if st.Pids != 2 {
		t.Errorf("Pids = %d, want 2 (the two sleeps' threads, not the shell's)", st.Pids)
	}
	if st.Memory <= 0 {
		t.Errorf("Memory = %d, want the sleeps' resident memory", st.Memory)
	}
	if st.PidsLimit != 7 {
		t.Errorf("PidsLimit = %d, want 7 as given", st.PidsLimit)
	}
	if st.At.IsZero() {
		t.Error("At is zero, want the time of the sample")
	}
	// The shell alone, measured from its own parent (this process),
	// counts the shell too: the sleeps' count above did not include it.
	if up := procStats(os.Getpid(), 0); up.Pids < 3 {
		t.Errorf("procStats(this process).Pids = %d, want at least the shell and its two sleeps", up.Pids)
	}
	// A pid no process has: nothing below it.
	if none := procStats(noPid, 5); none.Pids != 0 || none.Memory != 0 || none.CPU != 0 || none.PidsLimit != 5 {
		t.Errorf("procStats(no process) = %+v, want nothing but the limit", none)
	}
}

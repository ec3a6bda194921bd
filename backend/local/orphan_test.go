package local_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// orphanEnv makes the test binary play a runner that starts a sandbox and
// then waits to be killed.
const orphanEnv = "CLEANROOM_TEST_ORPHAN_STATE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(orphanEnv); dir != "" {
		os.Exit(orphanRunner(dir))
	}
	os.Exit(m.Run())
}

func orphanRunner(dir string) int {
	ctx := context.Background()
	b, err := local.New(local.WithStateDir(dir))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	id := uuid.Must(uuid.NewV7()).String()
	sess, err := b.NewSession(ctx, backend.SessionSpec{ID: id, Labels: map[string]string{
		backend.LabelSession: id, backend.LabelOwner: owner.Self().String(),
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	// A tree: the main process and a background child of an exec.
	c, err := sess.Start(ctx, backend.ContainerSpec{Name: "orphan", Cmd: []string{"sleep", "86400"}})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if _, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", "setsid sleep 86400 >/dev/null 2>&1 &"}}); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("session", id)
	select {} // until killed
}

// TestRunnerKilled: when the runner dies by SIGKILL, which it cannot
// catch, its sandboxes die with it (the parent-death signal of each
// sandbox's init, whose end kills its PID namespace), and the next sweep
// removes what is left on disk and in the cgroup tree.
func TestRunnerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	dir := stateDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var session string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "session "); ok {
			session = id
			break
		}
		t.Logf("runner: %s", sc.Text())
	}
	if session == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the runner did not start its sandbox")
	}
	b := newBackend(t, dir)
	before, _ := b.Resources(session)
	if !hasPrefix(before, "pid:") {
		t.Fatalf("before the kill: resources %v, want a live sandbox process", before)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, by PID
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		held, _ := b.Resources(session)
		if !hasPrefix(held, "pid:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the runner died: sandbox processes %v still run", held)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rep, err := b.Sweep(t.Context(), owner.Alive)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if len(rep.Sessions) != 1 || rep.Sessions[0] != session {
		t.Errorf("Sweep removed sessions %v, want [%s]", rep.Sessions, session)
	}
	if containers, networks := b.Resources(session); len(containers)+len(networks) > 0 {
		t.Errorf("after the sweep: containers %v and networks %v left, want none", containers, networks)
	}
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

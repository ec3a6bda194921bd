package cleanroom_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/internal/owner"
	"github.com/cleanroomhq/cleanroom/policy"
)

// The sweep tests need a process that dies without cleaning up. They re-run
// this test binary with helperModeEnv set, which turns TestHelperProcess into
// that process (the os/exec pattern of the standard library's own tests).
const helperModeEnv = "CLEANROOM_TEST_HELPER_MODE"

const (
	modeKilled = "killed" // New + Start, print, block until SIGKILLed
	modePanic  = "panic"  // cleanroom.Service, print, panic
	modePass   = "pass"   // cleanroom.Service, print, pass: RunTests cleans up
)

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		t.Skip("helper process of the sweep tests; runs only when they re-execute the test binary")
	}
	switch mode {
	case modeKilled:
		ctx := context.Background()
		env, err := cleanroom.New(ctx)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		defer env.Close(ctx) // only reached if nobody kills this process
		// With a volume its policy declares, which the sweep must
		// remove too.
		victim := sleeper("victim")
		victim.Policy, _ = policy.Preset(policy.Strict)
		victim.Policy.Volumes = []string{"/data"}
		insts, err := env.Start(ctx, victim)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		fmt.Printf("SESSION=%s\nCONTAINER=%s\n", env.ID(), insts[0].Container.ID())
		time.Sleep(2 * time.Minute)
	case modePanic, modePass:
		inst := cleanroom.Service(t, sleeper("victim"))
		c, ok := inspect(t, engine(t), inst.Container.ID())
		if !ok {
			t.Fatalf("container %s not found", inst.Container.ID())
		}
		fmt.Printf("SESSION=%s\nCONTAINER=%s\n", c.Config.Labels[backend.LabelSession], inst.Container.ID())
		if mode == modePanic {
			panic("helper process: deliberate panic inside a test")
		}
	default:
		t.Fatalf("unknown %s %q", helperModeEnv, mode)
	}
}

// helperProcess is a running re-execution of the test binary.
type helperProcess struct {
	cmd       *exec.Cmd
	stderr    *syncBuffer
	session   string
	container string
	done      chan error // receives cmd.Wait's result
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startHelper runs TestHelperProcess in mode and waits until it printed the
// session and container it created. The child is killed (by its own PID)
// if the test ends first.
func startHelper(t *testing.T, mode string) *helperProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &helperProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper process: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			_ = cmd.Process.Kill()
			<-h.done
		}
	})

	// The reader never blocks on a test that stopped listening, so Wait
	// always runs once the child's output ends.
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		h.done <- cmd.Wait()
	}()
	deadline := time.After(90 * time.Second)
	for h.session == "" || h.container == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("helper process (%s) ended before printing its session; stderr:\n%s", mode, h.stderr)
			}
			if v, ok := strings.CutPrefix(line, "SESSION="); ok {
				h.session = v
			}
			if v, ok := strings.CutPrefix(line, "CONTAINER="); ok {
				h.container = v
			}
		case <-deadline:
			t.Fatalf("helper process (%s): no session printed within 90s; stderr:\n%s", mode, h.stderr)
		}
	}
	return h
}

// wait returns the helper's exit error once it has ended.
func (h *helperProcess) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("helper process did not end within 60s; stderr:\n%s", h.stderr)
		return nil
	}
}

// A process killed with SIGKILL runs no cleanup at all; the next New of any
// cleanroom process removes what it left.
func TestSweepRemovesSessionOfKilledProcess(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	h := startHelper(t, modeKilled)
	if c, ok := inspect(t, cli, h.container); !ok || !c.State.Running || c.Config.Labels[backend.LabelSession] != h.session {
		t.Fatalf("before the kill: want the helper's container %s running in session %s, got found=%v", h.container, h.session, ok)
	}
	if _, ns := sessionResources(t, cli, h.session); len(ns) != 1 {
		t.Fatalf("before the kill: want the helper's session network, got %v", ns)
	}
	vs, err := cli.VolumeList(t.Context(), client.VolumeListOptions{Filters: client.Filters{}.Add("label", backend.LabelSession+"="+h.session)})
	if err != nil || len(vs.Items) != 1 {
		t.Fatalf("before the kill: want the victim's volume labelled with the session, got %d (%v)", len(vs.Items), err)
	}

	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill helper pid %d: %v", h.cmd.Process.Pid, err)
	}
	err = h.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Fatalf("helper exit: want death by signal, got %v", err)
	}
	// Nothing cleaned up by itself.
	if cs, _ := sessionResources(t, cli, h.session); len(cs) == 0 {
		t.Log("the helper's container was already gone before our sweep (another cleanroom process swept it)")
	}

	var logs []string
	var mu sync.Mutex
	env, err := cleanroom.New(t.Context(), cleanroom.WithLogf(func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	}))
	if err != nil {
		t.Fatalf("New (which sweeps): %v", err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	t.Logf("New's sweep said: %q", logs)
	assertSessionGone(t, cli, h.session)
}

// A test that panics skips RunTests' cleanup; a later sweep removes what the
// shared environment held. A test binary that ends normally leaves nothing,
// without any sweep.
func TestSweepAfterPanicAndCleanExit(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	d, err := docker.New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })

	t.Run("panic", func(t *testing.T) {
		h := startHelper(t, modePanic)
		err := h.wait(t)
		if err == nil || !strings.Contains(h.stderr.String(), "deliberate panic") {
			t.Fatalf("helper: want a failed exit with the panic on stderr, got %v; stderr:\n%s", err, h.stderr)
		}
		rep, err := d.Sweep(t.Context(), owner.Alive)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if slices.Contains(rep.Sessions, h.session) {
			t.Logf("sweep removed session %s: %d container(s), %d network(s) in all", h.session, len(rep.Containers), len(rep.Networks))
		} else {
			t.Logf("session %s was not in our sweep's report (another cleanroom process swept it first)", h.session)
		}
		assertSessionGone(t, cli, h.session)
		if _, ok := inspect(t, cli, h.container); ok {
			t.Errorf("container %s: want removed, still on the engine", h.container)
		}
	})

	t.Run("clean exit", func(t *testing.T) {
		h := startHelper(t, modePass)
		if err := h.wait(t); err != nil {
			t.Fatalf("helper: want a clean exit, got %v; stderr:\n%s", err, h.stderr)
		}
		// No sweep here: RunTests in the helper's TestMain removed it all.
		assertSessionGone(t, cli, h.session)
	})
}

// Two live environments of one process: sweeps leave both alone, and
// closing one leaves the other running and answering.
func TestConcurrentEnvsNeverRemoveEachOther(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	ctx := t.Context()
	env1, err := cleanroom.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env1.Close(context.Background()) })
	env2 := newEnv(t)

	// The same service name in both: names are per session.
	var web1, web2 string
	for i, env := range []*cleanroom.Env{env1, env2} {
		insts, err := env.Start(ctx, webServer("web", "0"))
		if err != nil {
			t.Fatalf("env%d Start: %v", i+1, err)
		}
		if i == 0 {
			web1 = insts[0].Container.ID()
		} else {
			web2 = insts[0].URL
		}
	}

	// Sweeps while both run, from an environment's backend and from a third
	// New.
	rep, err := env1.Backend().Sweep(ctx, owner.Alive)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	for _, s := range []string{env1.ID(), env2.ID()} {
		if slices.Contains(rep.Sessions, s) {
			t.Errorf("Sweep report: want live session %s left alone, got it in %v", s, rep.Sessions)
		}
	}
	newEnv(t)
	if c, ok := inspect(t, cli, web1); !ok || !c.State.Running {
		t.Fatalf("env1's web after the sweeps: want running, got found=%v", ok)
	}

	if err := env1.Close(ctx); err != nil {
		t.Fatalf("env1 Close: %v", err)
	}
	assertSessionGone(t, cli, env1.ID())
	cs, ns := sessionResources(t, cli, env2.ID())
	if len(cs) != 1 || len(ns) != 1 {
		t.Errorf("env2 after env1's Close: want its container and network, got %v and %v", cs, ns)
	}
	resp, err := http.Get(web2 + "/index.html")
	if err != nil {
		t.Fatalf("env2's web after env1's Close: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := strings.TrimSpace(string(body)), "hello from web"; got != want {
		t.Errorf("env2's web: want %q, got %q", want, got)
	}
}

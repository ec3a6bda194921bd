package cli

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/report"
)

// childEnv makes the test binary run the command line instead of the tests,
// so that a test can run `cleanroom` as a process of its own and signal it.
const childEnv = "CLEANROOM_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestRunInterrupt: Ctrl-C (SIGINT) during a long step stops the run within
// seconds with exit code 1, prints what ran and the summary, still writes the
// JSON report, starts no further file, and leaves nothing on the engine.
func TestRunInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(os.Args[0], "run", "--jobs", "1", "--seed", "99", "--out", t.TempDir(), "--report-json", jsonPath, "testdata/e2e/interrupt")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var stdout strings.Builder
	warm := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			stdout.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "✓ warm up") {
				seen = true
				close(warm)
			}
		}
		exited <- cmd.Wait()
	}()
	kill := func() { _ = cmd.Process.Kill() } // the child, by its PID
	select {
	case <-warm:
	case <-time.After(30 * time.Second):
		kill()
		<-exited
		t.Fatalf("the first scenario did not pass within 30s\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	// The next scenario's 300 s sleep starts right after the first one
	// finished; let it get going.
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case err = <-exited:
	case <-time.After(15 * time.Second):
		kill()
		<-exited
		t.Fatalf("still running 15s after SIGINT\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	t.Logf("exited %s after SIGINT", time.Since(sent).Round(time.Millisecond))
	if code := cmd.ProcessState.ExitCode(); code != exitFailed {
		t.Errorf("exit code %d (%v), want %d", code, err, exitFailed)
	}
	for _, want := range []string{
		"✓ warm up",
		"! sleeps long",
		"ERROR interrupt / sleeps long: interrupted\n",
		"1 passed, 0 failed, 2 skipped, 1 error in ",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "▶ next") {
		t.Errorf("the second file started after the interrupt:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "cleanroom: interrupted; every container of the run was removed") {
		t.Errorf("stderr: %q", stderr.String())
	}

	run := readReport(t, jsonPath)
	first, next := run.Suites[0], run.Suites[1]
	var got []report.Status
	for _, sc := range first.Scenarios {
		got = append(got, sc.Status)
	}
	if len(got) != 3 || got[0] != report.Passed || got[1] != report.Errored || got[2] != report.Skipped {
		t.Errorf("scenarios %v, want passed, error, skipped", got)
	}
	if st := first.Scenarios[1].Steps[0]; st.Status != report.Errored || st.DurationMS > 10000 {
		t.Errorf("interrupted step: %s after %.0fms", st.Status, st.DurationMS)
	}
	if next.Status != report.Skipped || next.Session != "" {
		t.Errorf("second file: %s, session %q; want skipped, never started", next.Status, next.Session)
	}
	if first.Seed != 99 || next.Seed != 99 {
		t.Errorf("seeds %d and %d, want --seed 99", first.Seed, next.Seed)
	}
	if first.Session == "" {
		t.Fatal("the report has no session for the interrupted suite")
	}
	assertNoSessionLeft(t, run)
}

// TestRunServiceNotReady: a service that never becomes ready is an
// infrastructure error (exit 3) whose message names the service and shows
// the end of its output; its container and network are removed.
func TestRunServiceNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	begin := time.Now()
	code, stdout, stderr := runCLI(t, "run", "--report-json", jsonPath, "testdata/e2e/notready.cleanroom.toml")
	if code != exitInfra {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitInfra, stdout, stderr)
	}
	// The bound is the default wait timeout (1m) the suite's 2s replaces,
	// not a speed target: start-up time varies with the machine's load.
	if took := time.Since(begin); took > 50*time.Second {
		t.Errorf("took %s with a 2s wait timeout", took)
	}
	if want := "cleanroom: suite notready could not run: service api (cleanroom-fixtures/busybox:1) not ready"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	for _, want := range []string{"port 8080", "last lines of its output:", "api booting", "api: cannot read /etc/api.conf", "0 passed, 0 failed, 1 skipped"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	run := readReport(t, jsonPath)
	s := run.Suites[0]
	if s.Status != report.Errored || !strings.Contains(s.Error, "api booting") || s.Scenarios[0].Status != report.Skipped {
		t.Errorf("report: suite %s %q, scenario %s", s.Status, s.Error, s.Scenarios[0].Status)
	}
	if s.Session == "" {
		t.Fatal("the report has no session")
	}
	assertNoSessionLeft(t, run)
}

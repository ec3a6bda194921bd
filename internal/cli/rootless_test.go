package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/internal/rootlesstest"
)

// rootlessExamples are the examples a runner that is not root runs on the
// local backend: all that run on local, but the policy example, whose
// memory and CPU limits need a cgroup (its refusal is in
// TestRootlessRefusesLimits).
var rootlessExamples = []string{"app", "determinism", "expectations", "postgres-redis", "quickstart"}

// TestRootlessAgrees runs the examples on the local backend twice, as root
// and as a user that is not root (rootlesstest.User), with one seed, and
// compares every step's result: a sandbox in a user namespace does what a
// root one does. The user's run is cleanroom's CLI itself, as that user.
func TestRootlessAgrees(t *testing.T) {
	needLocal(t)
	backendEnv(t)
	r := rootlesstest.New(t)
	examples := r.Copy("../../examples", "examples")
	var suites []string
	for _, e := range rootlessExamples {
		suites = append(suites, filepath.Join(examples, e))
	}
	args := func(out string) []string {
		return append([]string{"run", "--backend", "local", "-j", "2", "--seed", "20240101",
			"--out", out, "--report-json", filepath.Join(out, "run.json")}, suites...)
	}

	rootOut := t.TempDir()
	code, stdout, stderr := runCLI(t, args(rootOut)...)
	if code != exitPassed {
		t.Fatalf("as root: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rootRun := readReport(t, filepath.Join(rootOut, "run.json"))

	userOut := filepath.Join(r.Dir, "out")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := r.Command(ctx, []string{childEnv + "=1"}, args(userOut)...).CombinedOutput()
	if err != nil {
		t.Fatalf("as %s: %v\n%s", rootlesstest.User, err, out)
	}
	if !strings.Contains(string(out), "backend: local (asked for; without root, in user namespaces)") {
		t.Errorf("as %s: no backend line in\n%s", rootlesstest.User, out)
	}
	userRun := readReport(t, filepath.Join(userOut, "run.json"))
	assertNoLocalSessionLeft(t, rootRun)
	// Nor did the user's run leave anything: its state lies under its
	// TMPDIR; its processes are found wherever they are.
	b, err := local.New(local.WithStateDir(filepath.Join(r.Dir, fmt.Sprintf("cleanroom-%d", r.UID()), "local")))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range userRun.Suites {
		if containers, networks := b.Resources(s.Session); s.Session == "" || len(containers)+len(networks) > 0 {
			t.Errorf("suite %s as %s: session %q left containers %v and networks %v", s.Name, rootlesstest.User, s.Session, containers, networks)
		}
	}

	want, got := stepResults(rootRun), stepResults(userRun)
	if len(want) < 30 {
		t.Errorf("only %d results to compare", len(want))
	}
	for _, k := range sortedKeys(want, got) {
		if want[k] != got[k] {
			t.Errorf("%s differs:\n  root:     %s\n  rootless: %s", k, want[k], got[k])
		}
	}
}

// TestRootlessRefusesLimits: a runner that is not root is told, at each
// key, that the memory and CPU limits of the policy example cannot be
// enforced, and nothing runs; with auto, the example is skipped in one
// line and the others run.
func TestRootlessRefusesLimits(t *testing.T) {
	needLocal(t)
	r := rootlesstest.New(t)
	examples := r.Copy("../../examples", "examples")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	policyFile := filepath.Join(examples, "policy", "locked-down.cleanroom.toml")
	out, err := r.Command(ctx, []string{childEnv + "=1"}, "validate", "--backend", "local", policyFile).CombinedOutput()
	text := string(out)
	if err == nil {
		t.Fatalf("validate --backend local of the policy example as %s: exit 0, want the limits refused\n%s", rootlesstest.User, text)
	}
	for _, want := range []string{
		policyFile + ":8:10: service \"db\": memory limit 256MiB: without root the local backend has no cgroup",
		policyFile + ":19:21: service \"cache\": memory limit 64MiB:",
		"cpu limit 1:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("validate output lacks %q:\n%s", want, text)
		}
	}

	out, err = r.Command(ctx, []string{childEnv + "=1", "DOCKER_HOST=unix://" + filepath.Join(r.Dir, "no-engine.sock")},
		"run", "--out", filepath.Join(r.Dir, "auto"), filepath.Join(examples, "policy"), filepath.Join(examples, "quickstart")).CombinedOutput()
	text = string(out)
	if err != nil {
		t.Fatalf("run with auto as %s: %v\n%s", rootlesstest.User, err, text)
	}
	if !strings.Contains(text, "skip "+policyFile+`: service "db": memory limit 256MiB`) || !strings.Contains(text, "2 passed, 0 failed") {
		t.Errorf("run with auto as %s: want the policy example skipped in one line and quickstart's 2 steps passed:\n%s", rootlesstest.User, text)
	}
}

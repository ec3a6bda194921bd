package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/report"
)

// writeSuite writes a suite into a fresh directory (so that its
// __snapshots__ folder is the test's own) and returns its path.
func writeSuite(t *testing.T, dir, name, src string) string {
	t.Helper()
	path := filepath.Join(dir, name+".cleanroom.toml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// snapshotEnv clears the switches snapshot checks read, then sets ci.
func snapshotEnv(t *testing.T, ci string) {
	t.Setenv("CLEANROOM_UPDATE_SNAPSHOTS", "")
	t.Setenv("CI", ci)
}

const snapSuite = `name = "snaps"

[services.web]
type = "generic"
image = "busybox:latest"
command = ["sh", "-c", "mkdir -p /www && echo '{\"b\": 2, \"a\": {\"when\": \"2024-05-01T10:00:00Z\"}}' > /www/doc.json && echo up && exec httpd -f -p 8080 -h /www"]
ports = [8080]
wait = { http = "/doc.json", port = 8080 }

[[scenario]]
name = "pages"

[[scenario.step]]
name = "doc"
http = { service = "web", path = "/doc.json" }
snapshot = "doc"

[[scenario.step]]
name = "greeting"
service = "web"
exec = ["sh", "-c", "echo GREETING at $(date -u +%Y-%m-%dT%H:%M:%SZ) in session $HOSTNAME"]
snapshot = "greeting"
`

// TestSnapshotsEndToEnd: a snapshot is created on the first run, matched on
// the next, fails with a diff when the output changes, is rewritten by
// --update-snapshots, fails instead of being written when CI is set, and
// is pruned once no step names it.
func TestSnapshotsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	path := writeSuite(t, dir, "snaps", strings.Replace(snapSuite, "GREETING", "hello", 1))
	snapFile := filepath.Join(dir, "__snapshots__", "snaps.snap")

	snapshotEnv(t, "")
	code, stdout, stderr := runCLI(t, "run", path)
	if code != exitPassed {
		t.Fatalf("create: exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(snapFile)
	if err != nil {
		t.Fatalf("create: no snapshot file: %v", err)
	}
	stored := string(b)
	// Sorted JSON keys, the timestamp normalized.
	for _, want := range []string{`"a": {`, `"when": "<TIME>"`, "hello at <TIME>"} {
		if !strings.Contains(stored, want) {
			t.Errorf("snapshot file lacks %q:\n%s", want, stored)
		}
	}
	if strings.Index(stored, `"a"`) > strings.Index(stored, `"b"`) {
		t.Errorf("JSON keys not sorted:\n%s", stored)
	}

	// Match: nothing changes, not even the file.
	if code, stdout, stderr := runCLI(t, "run", path); code != exitPassed {
		t.Fatalf("match: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(snapFile); string(b) != stored {
		t.Errorf("a matching run rewrote the snapshot file")
	}

	// Mismatch: the step fails with a diff, the file is kept.
	writeSuite(t, dir, "snaps", strings.Replace(snapSuite, "GREETING", "goodbye", 1))
	code, stdout, _ = runCLI(t, "run", path)
	if code != exitFailed || !strings.Contains(stdout, "-hello at <TIME>") || !strings.Contains(stdout, "+goodbye at <TIME>") {
		t.Fatalf("mismatch: exit %d, want 1 and a diff:\n%s", code, stdout)
	}
	if b, _ := os.ReadFile(snapFile); string(b) != stored {
		t.Errorf("a mismatch rewrote the snapshot file")
	}

	// Update: rewritten, and the next run matches.
	if code, stdout, _ := runCLI(t, "run", "--update-snapshots", path); code != exitPassed {
		t.Fatalf("update: exit %d\n%s", code, stdout)
	}
	if b, _ := os.ReadFile(snapFile); !strings.Contains(string(b), "goodbye at <TIME>") {
		t.Errorf("update did not write the new output:\n%s", b)
	}
	if code, stdout, _ := runCLI(t, "run", path); code != exitPassed {
		t.Fatalf("after update: exit %d\n%s", code, stdout)
	}

	// CI: a missing snapshot fails and is not written.
	writeSuite(t, dir, "snaps", strings.Replace(snapSuite, `snapshot = "greeting"`, `snapshot = "greeting-v2"`, 1))
	snapshotEnv(t, "true")
	code, stdout, _ = runCLI(t, "run", path)
	if code != exitFailed || !strings.Contains(stdout, `snapshot "greeting-v2" is not in`) {
		t.Fatalf("CI missing: exit %d, want 1 naming the snapshot:\n%s", code, stdout)
	}
	if b, _ := os.ReadFile(snapFile); strings.Contains(string(b), "greeting-v2") {
		t.Errorf("CI wrote a missing snapshot:\n%s", b)
	}

	// Prune: "greeting" is no longer named by any step.
	snapshotEnv(t, "")
	code, stdout, stderr = runCLI(t, "snapshots", "prune", dir)
	if code != exitPassed || !strings.Contains(stdout, "greeting") || !strings.Contains(stdout, "1 snapshot removed") {
		t.Fatalf("prune: exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, _ = os.ReadFile(snapFile)
	if strings.Contains(string(b), "goodbye") || !strings.Contains(string(b), `"when"`) {
		t.Errorf("after prune:\n%s\nwant doc kept and greeting gone", b)
	}
}

const seededSuite = `name = "seeded"
freeze_time = "2024-01-01T00:00:00Z"

[services.box]
type = "generic"
image = "busybox:latest"
command = ["sleep", "3600"]

[[scenario]]
name = "generate"

[[scenario.step]]
name = "data"
service = "box"
exec = ["sh", "-c", "echo {{ randInt 1 1000000 }} {{ randString 16 }} {{ uuid }} {{ pick \"red\" \"green\" \"blue\" }} {{ now }}; echo $CLEANROOM_SEED $CLEANROOM_TIME $TZ $LANG"]
expect = { stdout_contains = ["{{ randInt 1 1000000 }} {{ randString 16 }}"] }

[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["sh", "-c", "echo {{ uuid }} $CLEANROOM_SEED"]
`

// normalizedReport reads a JSON report and drops what differs between two
// runs of the same thing: times, durations, session IDs, resources.
func normalizedReport(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var strip func(v any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range []string{"started", "finished", "duration_ms", "ready_ms", "reset_ms", "session_id", "resources", "address"} {
				delete(v, k)
			}
			for _, e := range v {
				strip(e)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(doc)
	out, _ := json.MarshalIndent(doc, "", "  ")
	return string(out)
}

// TestSameSeedSameRun: two runs with one seed write byte-identical reports
// once timing fields are set aside; another seed generates other data.
func TestSameSeedSameRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	path := writeSuite(t, dir, "seeded", seededSuite)
	reportOf := func(seed string) (string, *report.Run) {
		p := filepath.Join(t.TempDir(), "r.json")
		if code, stdout, stderr := runCLI(t, "run", "--seed", seed, "--report-json", p, path); code != exitPassed {
			t.Fatalf("seed %s: exit %d\n%s\n%s", seed, code, stdout, stderr)
		}
		return normalizedReport(t, p), readReport(t, p)
	}
	a, runA := reportOf("1234")
	b, _ := reportOf("1234")
	if a != b {
		t.Errorf("same seed, different reports:\n%s\n---\n%s", a, b)
	}
	c, runC := reportOf("5678")
	if a == c {
		t.Errorf("seeds 1234 and 5678 gave the same report")
	}
	out := runA.Suites[0].Scenarios[0].Steps[0].Output.Stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " 2024-01-01T00:00:00Z") ||
		!regexp.MustCompile(`^\d+ 2024-01-01T00:00:00Z UTC C\.UTF-8$`).MatchString(lines[1]) {
		t.Errorf("generated data and container environment:\n%s", out)
	}
	if runC.Suites[0].Scenarios[0].Steps[0].Output.Stdout == out {
		t.Errorf("another seed generated the same data: %q", out)
	}
}

// TestRepeatCatchesNondeterminism: a step that prints $RANDOM or the time
// is caught by --repeat 3 and fails the run, with the runs that differed
// and a diff; --allow-flaky reports it without failing; a deterministic
// step passes.
func TestRepeatCatchesNondeterminism(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	path := writeSuite(t, dir, "flaky", `name = "flaky"

[policy]
secrets = ["TOKEN"]

[services.box]
type = "generic"
image = "postgres:15"
command = ["sleep", "3600"]
env = { TOKEN = "tok-zzz-123" }

[[scenario]]
name = "s"

[[scenario.step]]
name = "random"
service = "box"
exec = ["bash", "-c", "echo $RANDOM"]
continue_on_failure = true
snapshot = "dice"

[[scenario.step]]
name = "clock"
service = "box"
exec = ["perl", "-MTime::HiRes=time", "-e", "printf qq(%.6f\n), time"]
continue_on_failure = true

[[scenario.step]]
name = "steady"
service = "box"
exec = ["echo", "same every time"]

[[scenario.step]]
name = "a secret, redacted the same in every run"
service = "box"
exec = ["sh", "-c", "echo $TOKEN"]

[[scenario.step]]
name = "a one-shot container's host name"
image = "busybox:latest"
exec = ["hostname"]
`)
	jsonPath := filepath.Join(dir, "r.json")
	snapshotEnv(t, "")
	code, stdout, _ := runCLI(t, "run", "--repeat", "3", "--update-snapshots", "--report-json", jsonPath, path)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, stdout)
	}
	// The snapshot of a step shown to be nondeterministic is not written,
	// even when asked to update.
	if b, err := os.ReadFile(filepath.Join(dir, "__snapshots__", "flaky.snap")); err == nil && strings.Contains(string(b), "dice") {
		t.Errorf("a nondeterministic step's snapshot was written:\n%s", b)
	}
	if !strings.Contains(stdout, "--- run 1") || !strings.Contains(stdout, "deterministic: expected and got differ") {
		t.Errorf("console lacks the run-against-run diff:\n%s", stdout)
	}
	steps := readReport(t, jsonPath).Suites[0].Scenarios[0].Steps
	for _, st := range steps[:2] {
		if st.Status != report.Failed || st.Flaky == nil || st.Flaky.Runs != 3 || len(st.Flaky.Differing) == 0 || st.Flaky.Diff == "" {
			t.Errorf("%s: status %s, flaky %+v: want it failed as nondeterministic with a diff", st.Name, st.Status, st.Flaky)
		}
	}
	for _, st := range steps[2:] {
		if st.Status != report.Passed || st.Flaky != nil || st.Digest == "" {
			t.Errorf("%s: status %s, flaky %+v, digest %q: want passed with a digest", st.Name, st.Status, st.Flaky, st.Digest)
		}
	}

	code, stdout, _ = runCLI(t, "run", "--repeat", "2", "--allow-flaky", "--report-json", jsonPath, path)
	if code != exitPassed {
		t.Fatalf("--allow-flaky: exit %d, want 0:\n%s", code, stdout)
	}
	if !strings.Contains(stdout, "FLAKY flaky / s / random") {
		t.Errorf("--allow-flaky: the console does not list the flaky step:\n%s", stdout)
	}
	if st := readReport(t, jsonPath).Suites[0].Scenarios[0].Steps[0]; st.Flaky == nil || !strings.Contains(strings.Join(st.Notes, " "), "nondeterministic") {
		t.Errorf("--allow-flaky: random step flaky %+v, notes %q: want it reported", st.Flaky, st.Notes)
	}
}

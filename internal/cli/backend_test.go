package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/backend/local"
	"github.com/cleanroomhq/cleanroom/config"
	"github.com/cleanroomhq/cleanroom/report"
)

// The backend a run uses: auto's fall back to the local backend, what each
// backend refuses before anything starts, and the same suites giving the
// same results on both.

// needLocal skips a test where the local backend cannot run (not Linux, not
// root).
func needLocal(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	if err := local.Available(); err != nil {
		t.Skipf("the local backend cannot run here: %v", err)
	}
}

// needDocker skips a test where no Docker engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers")
	}
	b, err := docker.New(context.Background())
	if err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	b.Close()
}

// backendEnv clears what chooses a backend besides the flag, so that the
// caller's environment does not decide a test; the project file is the
// repository's cleanroom.toml (image mappings, no backend).
func backendEnv(t *testing.T) {
	t.Helper()
	t.Setenv(config.EnvBackend, "")
	t.Setenv(config.EnvConfig, "")
}

// noEngine points the Docker client at a socket nobody listens on and
// returns its address.
func noEngine(t *testing.T) string {
	t.Helper()
	host := "unix://" + filepath.Join(t.TempDir(), "no-engine.sock")
	t.Setenv("DOCKER_HOST", host)
	return host
}

// bothBackends are the examples every backend runs: all but examples/build,
// whose images are built from a Dockerfile.
var bothBackends = []string{
	"../../examples/app",
	"../../examples/determinism",
	"../../examples/expectations",
	"../../examples/policy",
	"../../examples/postgres-redis",
	"../../examples/quickstart",
}

const buildExample = "../../examples/build/build.cleanroom.toml"

func TestBackendAutoFallsBackToLocal(t *testing.T) {
	needLocal(t)
	backendEnv(t)
	host := noEngine(t)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	outDir := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "-j", "2", "--out", outDir, "--report-json", jsonPath, "../../examples")
	if code != exitPassed {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The audit log says what ran: programs of this machine, no seccomp
	// filter, never an image the local backend did not use.
	audit, err := os.ReadFile(filepath.Join(outDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	oneShots := 0
	for line := range strings.Lines(string(audit)) {
		var rec struct {
			Kind, Image string
			Policy      struct{ Seccomp string }
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rec.Image, "host:") || rec.Policy.Seccomp != "none" {
			t.Errorf("audit record %s: want a host program and seccomp none", strings.TrimSpace(line))
		}
		if rec.Kind == "one-shot" {
			oneShots++
		}
	}
	if oneShots == 0 {
		t.Errorf("audit log: no one-shot container recorded, want the examples' one-shot steps\n%s", audit)
	}
	lines := strings.Split(stdout, "\n")
	if want := "backend: local (no Docker engine answered at " + host + ")"; lines[0] != want {
		t.Errorf("first line:\nwant %s\ngot  %s", want, lines[0])
	}
	var skips []string
	for _, l := range lines {
		if strings.HasPrefix(l, "skip ") {
			skips = append(skips, l)
		}
	}
	wantSkip := "skip " + buildExample + `: service "web": a build needs the Docker backend (--backend docker): the local backend runs programs of this machine, not images (and 1 more)`
	if len(skips) != 1 || skips[0] != wantSkip {
		t.Errorf("want exactly one skip line:\n  %s\ngot %d:\n  %s", wantSkip, len(skips), strings.Join(skips, "\n  "))
	}
	if strings.Contains(stdout, "▶ build ") {
		t.Errorf("the skipped suite ran:\n%s", stdout)
	}

	run := readReport(t, jsonPath)
	if run.Backend != "local" {
		t.Errorf("report: backend %q, want local", run.Backend)
	}
	if run.Status != report.Passed || run.Summary.Failed+run.Summary.Errored+run.Summary.Skipped != 0 {
		t.Errorf("report: status %s, summary %+v; want every scenario passed", run.Status, run.Summary)
	}
	var files []string
	for _, s := range run.Suites {
		files = append(files, filepath.Dir(s.File))
		if s.Status != report.Passed {
			t.Errorf("suite %s: %s %s", s.Name, s.Status, s.Error)
		}
	}
	slices.Sort(files)
	if !slices.Equal(files, bothBackends) {
		t.Errorf("suites run: %v\nwant every example but build: %v", files, bothBackends)
	}
	assertNoLocalSessionLeft(t, run)
}

func TestBackendValidationErrors(t *testing.T) {
	positioned := regexp.MustCompile(`^[^:\s]+\.cleanroom\.toml:\d+:\d+: `)
	tests := []struct {
		name   string
		needs  func(*testing.T)
		env    map[string]string // besides backendEnv's
		config string            // a cleanroom.toml for CLEANROOM_CONFIG; FILE in the wants is its path
		args   []string
		code   int
		// errors are the lines of stderr that must be positioned problems
		// (file:line:col: message), each containing its string, in order.
		errors []string
		// stderr and stdout must contain these.
		stderr, stdout string
	}{
		{
			name:  "a build on the local backend",
			needs: needLocal,
			args:  []string{"run", "--backend", "local", buildExample},
			code:  exitInvalid,
			errors: []string{
				buildExample + `:11:9: service "web": a build needs the Docker backend (--backend docker)`,
				buildExample + `:18:9: service "probe": a build needs the Docker backend (--backend docker)`,
			},
			stderr: "cleanroom: 2 errors on the local backend: nothing was run",
			stdout: "backend: local (asked for)",
		},
		{
			// The flag wins over the environment: the errors are the local
			// backend's, and nothing reaches Docker.
			name:   "the flag over CLEANROOM_BACKEND",
			needs:  needLocal,
			env:    map[string]string{config.EnvBackend: "docker"},
			args:   []string{"run", "--backend", "local", buildExample},
			code:   exitInvalid,
			errors: []string{`service "web": a build needs the Docker backend`, `service "probe": a build needs the Docker backend`},
			stdout: "backend: local (asked for)",
		},
		{
			// A backend the project file names is a backend the user named:
			// what it cannot run is an error, not a skip.
			name:   "the project file names local",
			needs:  needLocal,
			config: `backend = "local"`,
			args:   []string{"run", buildExample},
			code:   exitInvalid,
			errors: []string{`service "web": a build needs`, `service "probe": a build needs`},
			stdout: "backend: local (asked for)",
		},
		{
			name:   "CLEANROOM_BACKEND names local",
			needs:  needLocal,
			env:    map[string]string{config.EnvBackend: "local"},
			args:   []string{"run", buildExample},
			code:   exitInvalid,
			errors: []string{`service "web": a build needs`, `service "probe": a build needs`},
			stdout: "backend: local (asked for)",
		},
		{
			name:  "a host command on the Docker backend",
			needs: needDocker,
			args:  []string{"run", "--backend", "docker", "testdata/backend/host-command.cleanroom.toml"},
			code:  exitInvalid,
			errors: []string{
				`testdata/backend/host-command.cleanroom.toml:6:1: service "tool" has a command and no image: it runs a program of this machine, which only the local backend does (--backend local); give it an image to run it here`,
			},
			stderr: "cleanroom: 1 error on the docker backend: nothing was run",
			stdout: "backend: docker (asked for)",
		},
		{
			name:   "an unknown --backend",
			args:   []string{"run", "--backend", "bogus", "../../examples/quickstart"},
			code:   exitInvalid,
			stderr: `cleanroom: --backend: unknown backend "bogus" (want one of docker, local, auto)`,
		},
		{
			name:   "an unknown backend in the project file",
			config: "# project settings\nbackend = \"bogus\"\n",
			args:   []string{"run", "../../examples/quickstart"},
			code:   exitInvalid,
			stderr: `FILE:2:11: backend: unknown backend "bogus" (want one of docker, local, auto)`,
		},
		{
			name:   "an unknown CLEANROOM_BACKEND",
			env:    map[string]string{config.EnvBackend: "bogus"},
			args:   []string{"run", "../../examples/quickstart"},
			code:   exitInvalid,
			stderr: `$CLEANROOM_BACKEND: unknown backend "bogus" (want one of docker, local, auto)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needs != nil {
				tt.needs(t)
			}
			backendEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			file := ""
			if tt.config != "" {
				file = filepath.Join(t.TempDir(), "cleanroom.toml")
				if err := os.WriteFile(file, []byte(tt.config), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Setenv(config.EnvConfig, file)
			}
			code, stdout, stderr := runCLI(t, tt.args...)
			show := fmt.Sprintf("\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d%s", code, tt.code, show)
			}
			var problems []string
			for _, l := range strings.Split(stderr, "\n") {
				if positioned.MatchString(l) {
					problems = append(problems, l)
				}
			}
			if len(problems) != len(tt.errors) {
				t.Errorf("want %d positioned problem(s), got %d%s", len(tt.errors), len(problems), show)
			} else {
				for i, want := range tt.errors {
					if !strings.Contains(problems[i], want) {
						t.Errorf("problem %d:\nwant %s\ngot  %s", i+1, want, problems[i])
					}
				}
			}
			if want := strings.ReplaceAll(tt.stderr, "FILE", file); !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q%s", want, show)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout lacks %q%s", tt.stdout, show)
			}
			if strings.Contains(stdout, "▶") {
				t.Errorf("a suite started%s", show)
			}
		})
	}
}

// TestBackendsAgree runs the examples both backends can run on each, with
// one seed, and compares every step's result. What differs by nature of the
// backend is normalized below, each with its reason; everything else must
// be equal.
func TestBackendsAgree(t *testing.T) {
	needLocal(t)
	needDocker(t)
	backendEnv(t)
	runOn := func(name string) *report.Run {
		jsonPath := filepath.Join(t.TempDir(), "report.json")
		args := append([]string{"run", "--backend", name, "-j", "2", "--seed", "20240101", "--report-json", jsonPath}, bothBackends...)
		code, stdout, stderr := runCLI(t, args...)
		if code != exitPassed {
			t.Errorf("--backend %s: exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", name, code, stdout, stderr)
		}
		run := readReport(t, jsonPath)
		if run.Backend != name {
			t.Errorf("--backend %s: the report says %q", name, run.Backend)
		}
		return run
	}
	dockerRun := runOn("docker")
	assertNoSessionLeft(t, dockerRun)
	localRun := runOn("local")
	assertNoLocalSessionLeft(t, localRun)

	d, l := stepResults(dockerRun), stepResults(localRun)
	if len(d) < 30 {
		t.Errorf("only %d results to compare", len(d))
	}
	for _, k := range sortedKeys(d, l) {
		dv, dok := d[k]
		lv, lok := l[k]
		switch {
		case !dok:
			t.Errorf("%s: only on local: %s", k, lv)
		case !lok:
			t.Errorf("%s: only on docker: %s", k, dv)
		case strings.HasSuffix(k, ": seccomp") && dv != "":
			// Every container: the engine's default profile on Docker, no
			// filter on local (docs/backends.md), as the audit must say.
			if dv != `"default"` || lv != `"none"` {
				t.Errorf("%s: docker %s, local %s; want default and none", k, dv, lv)
			}
		case dv != lv:
			if kd, ok := knownDifferences[k]; ok && (kd.docker == "" || kd.docker == dv && kd.local == lv) {
				t.Logf("%s: known difference (%s):\n  docker: %s\n  local:  %s", k, kd.why, dv, lv)
				continue
			}
			t.Errorf("%s differs:\n  docker: %s\n  local:  %s", k, dv, lv)
		}
	}
	for k, kd := range knownDifferences {
		if kd.docker != "" && (d[k] != kd.docker || l[k] != kd.local) {
			t.Errorf("%s: the known difference (%s) is not what it was; if the backends agree now, remove it from knownDifferences", k, kd.why)
		}
	}
}

// knownDifferences are real differences between the backends, each pinned
// to both values (none: any two values, following from another entry) so
// that the test notices when either changes. Not normalization: the
// behaviour differs, and is reported.
var knownDifferences = map[string]struct{ why, docker, local string }{
	// An exec in a generic service runs the service's image's programs on
	// Docker (busybox's sh and touch) and this machine's on local (dash,
	// GNU coreutils), so what a command prints is the host's.
	"locked-down / the policy holds / read-only root: stderr": {
		why:    "exec in a service runs the host's touch, not the image's",
		docker: `"touch: /etc/pwned: Read-only file system\n"`,
		local:  `"touch: cannot touch '/etc/pwned': Read-only file system\n"`,
	},
	"locked-down / the policy holds / read-only root: digest": {
		why: "the digest covers the stderr above", // any two digests
	},
	// The local backend brings PostgreSQL's image entrypoint along as a file
	// in a directory of its own; under a read-only root a directory that
	// receives a file becomes a writable volume (policy.WithFiles).
	"locked-down / service db: policy volumes": {
		why:    "the host form's entrypoint file makes its own directory a volume",
		docker: `["/docker-entrypoint-initdb.d"]`,
		local:  `["/opt/cleanroom/postgres","/docker-entrypoint-initdb.d"]`,
	},
}

// Normalizations of what differs between any two runs, or between an image
// and this machine, by nature.
var (
	// The orders example returns the server's process ID for a reason
	// (the suite normalizes it itself, and so its digest agrees): a PID
	// differs between any two runs, and a sandbox's PID namespace is not a
	// container's.
	pidPattern = regexp.MustCompile(`pid=[0-9]+`)
	// The orders example prints the real clock next to the frozen one, to
	// show the difference: the time the step ran.
	realClock = regexp.MustCompile(`(?m)^real: \S+$`)
)

// timeHeaders are HTTP headers whose values are times: when the request
// was answered (Date), and the served file's modification time, which
// busybox httpd also puts in its ETag ("mtime-size"); the file is copied in
// when the service starts.
var timeHeaders = []string{"Date", "Last-Modified", "Etag"}

// stepResults flattens a run into "suite / scenario / step: field" → JSON of
// the value, normalized. Left out, because they are what differs between
// backends or between runs by nature: session IDs, start times and
// durations, readiness times, reset times, images and image digests (an
// image on Docker, "host:PROGRAM" on local), resource measurements (memory,
// processes, CPU, I/O are those of different programs, and the local
// backend counts no network bytes), and the paths of the output folder.
func stepResults(run *report.Run) map[string]string {
	out := map[string]string{}
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out[key] = string(b)
	}
	put("run: status", run.Status)
	put("run: summary", run.Summary)
	for _, s := range run.Suites {
		put(s.Name+": file, seed, status, error", []any{s.File, s.Seed, s.Status, s.Error})
		for _, svc := range s.Services {
			k := s.Name + " / service " + svc.Name
			put(k+": kind, address, restarts", []any{svc.Kind, svc.Address, svc.Restarts})
			// The volumes and seccomp apart, for the known differences
			// below.
			var rest any
			var volumes []string
			var seccomp string
			if svc.Policy != nil {
				c := svc.Policy.Clone()
				volumes, c.Volumes = c.Volumes, nil
				seccomp, c.Seccomp = c.Seccomp, ""
				rest = c
			}
			put(k+": policy", rest)
			put(k+": policy volumes", volumes)
			put(k+": seccomp", seccomp)
			put(k+": log", svc.Log != "")
		}
		for _, sc := range s.Scenarios {
			k := s.Name + " / " + sc.Name
			put(k+": status, seed, error", []any{sc.Status, sc.Seed, sc.Error})
			put(k+": artifacts", sc.Artifacts)
			for i, st := range sc.Steps {
				k := fmt.Sprintf("%s / %s / %s", s.Name, sc.Name, st.Name)
				put(k+": index, kind, service, pos, seed", []any{i, st.Kind, st.Service, st.Pos, st.Seed})
				put(k+": status, attempts, error", []any{st.Status, st.Attempts, st.Error})
				put(k+": failures", st.Failures)
				put(k+": captured", st.Captured)
				put(k+": notes", st.Notes)
				if st.Policy != nil {
					c := st.Policy.Clone()
					put(k+": seccomp", c.Seccomp)
					c.Seccomp = ""
					put(k+": policy", c)
				} else {
					put(k+": policy", st.Policy)
				}
				put(k+": snapshot", st.Snapshot)
				put(k+": digest", st.Digest)
				o := st.Output
				if o == nil {
					put(k+": output", nil)
					continue
				}
				put(k+": exit code", o.ExitCode)
				put(k+": stdout", realClock.ReplaceAllString(o.Stdout, "real: <TIME>"))
				put(k+": stderr", o.Stderr)
				put(k+": rows", normalizeRows(o.Rows))
				put(k+": rows affected", o.RowsAffected)
				put(k+": reply", o.Reply)
				put(k+": http status", o.Status)
				headers := map[string]string{}
				for h, v := range o.Headers {
					if !slices.Contains(timeHeaders, h) {
						headers[h] = v
					}
				}
				put(k+": headers", headers)
				put(k+": body", o.Body)
			}
		}
	}
	return out
}

func normalizeRows(rows [][]any) [][]any {
	var out [][]any
	for _, r := range rows {
		var row []any
		for _, v := range r {
			if s, ok := v.(string); ok {
				v = pidPattern.ReplaceAllString(s, "pid=<PID>")
			}
			row = append(row, v)
		}
		out = append(out, row)
	}
	return out
}

func sortedKeys(ms ...map[string]string) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// assertNoLocalSessionLeft checks on this machine that the run's local
// sessions left nothing: no state directory, no sandbox process (found by
// the session mark in its environment), no cgroup.
func assertNoLocalSessionLeft(t *testing.T, run *report.Run) {
	t.Helper()
	b, err := local.New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sessions := 0
	for _, s := range run.Suites {
		if s.Session == "" {
			continue
		}
		sessions++
		if containers, networks := b.Resources(s.Session); len(containers)+len(networks) > 0 {
			t.Errorf("suite %s left %v and %v of session %s", s.Name, containers, networks, s.Session)
		}
		if _, err := os.Stat(filepath.Join(local.DefaultStateDir, s.Session)); !os.IsNotExist(err) {
			t.Errorf("suite %s left its state directory %s (%v)", s.Name, filepath.Join(local.DefaultStateDir, s.Session), err)
		}
		mark := []byte("CLEANROOM_SANDBOX_SESSION=" + s.Session + "\x00")
		envs, _ := filepath.Glob("/proc/[0-9]*/environ")
		for _, e := range envs {
			if b, err := os.ReadFile(e); err == nil && bytes.Contains(b, mark) {
				t.Errorf("suite %s left process %s of session %s", s.Name, filepath.Dir(e), s.Session)
			}
		}
		// The session's own cgroups, not only its containers', in any
		// hierarchy: ".../cleanroom/<session>".
		_ = filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == s.Session && filepath.Base(filepath.Dir(path)) == "cleanroom" {
				t.Errorf("suite %s left cgroup %s", s.Name, path)
			}
			return nil
		})
	}
	if sessions == 0 {
		t.Error("the report names no session to check")
	}
}

package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name           string
		dir            string // working directory, "" for the package's
		args           []string
		code           int
		stdout, stderr string
	}{
		{
			name:   "valid suites",
			args:   []string{"validate", "testdata/validate/ok"},
			stdout: "ok: 2 suites, 3 scenarios, 4 steps\n",
		},
		{
			name:   "default path is the working directory",
			dir:    "testdata/validate/ok/nested",
			args:   []string{"validate"},
			stdout: "ok: 1 suite, 2 scenarios, 3 steps\n",
		},
		{
			name: "every error of every file",
			args: []string{"validate", "testdata/validate/bad", "testdata/validate/ok/quickstart.cleanroom.toml"},
			code: 2,
			stderr: `testdata/validate/bad/cycle.cleanroom.toml:9:15: dependency cycle: a → b → a
testdata/validate/bad/cycle.cleanroom.toml:16:9: template uses undefined variable .vars.nope (define it in [vars] or capture it in an earlier step)
testdata/validate/bad/typo.cleanroom.toml:7:1: unknown key "expct" — did you mean "expect"?
cleanroom: 3 files, 3 errors
`,
		},
		{
			// Compliance rules are checked before anything starts, by
			// validate as by run.
			name: "compliance rules",
			args: []string{"validate", "testdata/validate/policy"},
			code: 2,
			stderr: `testdata/validate/policy/noncompliant.cleanroom.toml:2:12: compliance rule read_only_rootfs: step "one-shot" of scenario "s" (a one-shot container) breaks it: its root file system is writable (set read_only_rootfs = true) (testdata/validate/policy/noncompliant.cleanroom.toml:14:1)
cleanroom: 1 error
`,
		},
		{
			name: "missing path",
			args: []string{"validate", "testdata/validate/nope"},
			code: 2,
			stderr: `testdata/validate/nope: no such file or directory
cleanroom: 0 files, 1 error
`,
		},
		{
			name:   "bad flag",
			args:   []string{"validate", "--frobnicate"},
			code:   2,
			stderr: "cleanroom: unknown flag: --frobnicate\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.dir != "" {
				t.Chdir(tt.dir)
			}
			var stdout, stderr bytes.Buffer
			code := Main(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), tt.stdout)
			}
			if stderr.String() != tt.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), tt.stderr)
			}
		})
	}
}

// TestValidateBackend: --backend checks that the suites can run there,
// each problem at its position; without it nothing is said about backends.
func TestValidateBackend(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", "--backend", "local", "../../examples/build")
	if code != exitInvalid {
		t.Fatalf("validate --backend local of a build: exit %d, want %d\n%s%s", code, exitInvalid, stdout, stderr)
	}
	if !strings.Contains(stderr, "build.cleanroom.toml:11:9: service \"web\": a build needs the Docker backend") {
		t.Errorf("stderr %q: want the build's position and reason", stderr)
	}
	if code, stdout, stderr := runCLI(t, "validate", "--backend", "docker", "../../examples/build"); code != 0 {
		t.Errorf("validate --backend docker of a build: exit %d, want 0\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, "validate", "--backend", "bogus", "../../examples/build"); code != exitInvalid || !strings.Contains(stderr, `unknown backend "bogus"`) {
		t.Errorf("validate --backend bogus: exit %d, stderr %q; want a usage error naming it", code, stderr)
	}
}

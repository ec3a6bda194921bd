package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunAttestAndVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	dir := t.TempDir()
	suitePath := writeSuite(t, dir, "attested", `name = "attested"
seed = 7

[[scenario]]
name = "uname"

[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["uname", "-s"]
expect = { stdout_matches = "^Linux" }
`)
	key := filepath.Join(dir, "key")
	if code, _, stderr := runCLI(t, "keygen", "--out", key); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "keygen", "--out", key); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second keygen: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "run", "--attest", filepath.Join(dir, "a.jsonl"), suitePath); code != exitInvalid || !strings.Contains(stderr, "go together") {
		t.Errorf("--attest alone: exit %d, want %d: %s", code, exitInvalid, stderr)
	}

	out := filepath.Join(dir, "out")
	att := filepath.Join(out, "attestation.jsonl")
	code, stdout, stderr := runCLI(t, "run", "--out", out, "--attest", att, "--sign-key", key, suitePath)
	if code != exitPassed {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI(t, "attest", "verify", "--key", key+".pub", "--attestation", att)
	if code != 0 {
		t.Fatalf("verify: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"result:   PASSED (1 passed", "report.json", "audit.jsonl", "suite:    attested", "seed 7",
		"image:    busybox:latest", "policy:   attested/uname/one-shot (one-shot, busybox:latest): "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("verify output lacks %q:\n%s", want, stdout)
		}
	}

	report := filepath.Join(out, reportJSONName)
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(report, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "attest", "verify", "--key", key+".pub", "--attestation", att)
	if code != exitFailed || !strings.Contains(stderr, "subject report.json: sha256 is") {
		t.Errorf("verify after tampering: exit %d, want %d with the changed file named\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout, stderr)
	}
}

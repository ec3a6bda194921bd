package attest_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/attest"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/report"
)

// fixture is a run with its report files and suite file on disk, and a key.
type fixture struct {
	dir  string
	run  *report.Run
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	file string // the attestation
}

var subjectNames = []string{"report.json", "junit.xml", "trace.jsonl", "audit.jsonl"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	suiteFile := filepath.Join(dir, "users.cleanroom.toml")
	if err := os.WriteFile(suiteFile, []byte("name = \"users\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	strict := &policy.Policy{Preset: "strict", Network: "none"}
	run := &report.Run{
		Schema: report.SchemaVersion, Cleanroom: "v0.9.0", Backend: "docker", EngineVersion: "27.1",
		Started: t0, Finished: t0.Add(3 * time.Second),
		Suites: []*report.Suite{{
			Name: "users", File: suiteFile, Seed: 42, Status: report.Failed,
			Services: []*report.Service{{Name: "db", Kind: "postgres", Image: "postgres:16", Policy: &policy.Policy{Preset: "standard"}}},
			Scenarios: []*report.Scenario{
				{Name: "create", Status: report.Passed, Steps: []*report.Step{{Name: "uname", Status: report.Passed, Policy: strict}}},
				{Name: "delete", Status: report.Failed},
			},
		}},
	}
	run.Tally()
	var subjects []string
	for _, n := range subjectNames {
		p := filepath.Join(dir, n)
		if err := report.WriteFile(p, "json", run); err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, p)
	}
	prefix := filepath.Join(t.TempDir(), "key")
	if err := attest.Keygen(prefix); err != nil {
		t.Fatal(err)
	}
	priv, err := attest.LoadPrivateKey(prefix)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attest.LoadPublicKey(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	statements, err := attest.Build(run, attest.Options{Subjects: subjects})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "attestation.jsonl")
	if err := attest.WriteFile(file, statements, priv); err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, run: run, priv: priv, pub: pub, file: file}
}

func (f *fixture) verify(t *testing.T, pub ed25519.PublicKey) (*attest.Summary, error) {
	t.Helper()
	b, err := os.ReadFile(f.file)
	if err != nil {
		t.Fatal(err)
	}
	return attest.Verify(b, pub, f.dir)
}

func TestVerifyAcceptsUntouched(t *testing.T) {
	f := newFixture(t)
	sum, err := f.verify(t, f.pub)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if sum.Result != attest.ResultFailed {
		t.Errorf("result = %q, want FAILED", sum.Result)
	}
	if !slices.Equal(sum.PassedTests, []string{"users/create"}) || !slices.Equal(sum.FailedTests, []string{"users/delete"}) {
		t.Errorf("passed %v failed %v", sum.PassedTests, sum.FailedTests)
	}
	if !slices.Equal(sum.Subjects, subjectNames) {
		t.Errorf("subjects = %v, want %v", sum.Subjects, subjectNames)
	}
	if sum.Run == nil {
		t.Fatal("no cleanroom run predicate")
	}
	if got := sum.Run; got.Backend != "docker" || got.EngineVersion != "27.1" || got.Cleanroom != "v0.9.0" ||
		len(got.Suites) != 1 || got.Suites[0].Seed != 42 || !got.Finished.Equal(f.run.Finished) {
		t.Errorf("run predicate = %+v", got)
	}
	if len(sum.Run.Images) != 1 || sum.Run.Images[0].Name != "postgres:16" {
		t.Errorf("images = %+v", sum.Run.Images)
	}
	var presets []string
	for _, c := range sum.Run.Containers {
		presets = append(presets, c.Name+"="+c.Policy.Preset)
	}
	if want := []string{"db=standard", "create/uname=strict"}; !slices.Equal(presets, want) {
		t.Errorf("containers = %v, want %v", presets, want)
	}
}

func TestBuildTestResultPredicate(t *testing.T) {
	f := newFixture(t)
	b, _ := os.ReadFile(f.file)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d envelopes, want 2", len(lines))
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			Result        string `json:"result"`
			Configuration []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"configuration"`
		} `json:"predicate"`
	}
	json.Unmarshal(payload(t, lines[0]), &st)
	if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != attest.TestResultPredicateType || st.Predicate.Result != "FAILED" {
		t.Errorf("statement = %+v", st)
	}
	if len(st.Predicate.Configuration) != 1 || !strings.HasSuffix(st.Predicate.Configuration[0].Name, "users.cleanroom.toml") ||
		len(st.Predicate.Configuration[0].Digest["sha256"]) != 64 {
		t.Errorf("configuration = %+v", st.Predicate.Configuration)
	}
}

func payload(t *testing.T, line []byte) []byte {
	t.Helper()
	var env struct{ Payload string }
	if err := json.Unmarshal(line, &env); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// flip changes one byte of s at i to another valid character of the same
// alphabet, so the change is in the content, not its encoding.
func flip(b []byte, i int) {
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
}

func TestVerifyRejectsChangedSubject(t *testing.T) {
	for _, name := range subjectNames {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			p := filepath.Join(f.dir, name)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
			_, err := f.verify(t, f.pub)
			var ve *attest.VerifyError
			if !errors.As(err, &ve) || ve.Subject != name || !strings.Contains(ve.Reason, "file was changed") {
				t.Fatalf("err = %v, want a changed-file error about %s", err, name)
			}
		})
	}
}

func TestVerifyRejectsMissingSubject(t *testing.T) {
	f := newFixture(t)
	os.Remove(filepath.Join(f.dir, "junit.xml"))
	_, err := f.verify(t, f.pub)
	var ve *attest.VerifyError
	if !errors.As(err, &ve) || ve.Subject != "junit.xml" || ve.Reason != "cannot be read" {
		t.Fatalf("err = %v", err)
	}
}

// editEnvelope changes one envelope of the attestation file in place.
func editEnvelope(t *testing.T, f *fixture, line int, edit func(env map[string]any)) {
	t.Helper()
	b, _ := os.ReadFile(f.file)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	var env map[string]any
	if err := json.Unmarshal(lines[line], &env); err != nil {
		t.Fatal(err)
	}
	edit(env)
	lines[line], _ = json.Marshal(env)
	os.WriteFile(f.file, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644)
}

func TestVerifyRejectsTamperedEnvelope(t *testing.T) {
	otherPub, _, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name   string
		line   int
		edit   func(env map[string]any)
		pub    func(f *fixture) ed25519.PublicKey
		reason string
	}{
		{name: "payload byte", line: 0, edit: func(env map[string]any) {
			p, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
			p[len(p)/2] ^= 1
			env["payload"] = base64.StdEncoding.EncodeToString(p)
		}, reason: "signature does not verify"},
		{name: "payload base64 character", line: 1, edit: func(env map[string]any) {
			p := []byte(env["payload"].(string))
			flip(p, 10)
			env["payload"] = string(p)
		}, reason: "signature does not verify"},
		{name: "signature byte", line: 0, edit: func(env map[string]any) {
			sig := env["signatures"].([]any)[0].(map[string]any)
			s, _ := base64.StdEncoding.DecodeString(sig["sig"].(string))
			s[0] ^= 1
			sig["sig"] = base64.StdEncoding.EncodeToString(s)
		}, reason: "signature does not verify"},
		{name: "payload type", line: 0, edit: func(env map[string]any) {
			env["payloadType"] = "application/json"
		}, reason: "payload type is \"application/json\""},
		{name: "no signature", line: 1, edit: func(env map[string]any) {
			env["signatures"] = []any{}
		}, reason: "not signed"},
		{name: "wrong key", pub: func(*fixture) ed25519.PublicKey { return otherPub }, reason: "signature does not verify with key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.edit != nil {
				editEnvelope(t, f, tt.line, tt.edit)
			}
			pub := f.pub
			if tt.pub != nil {
				pub = tt.pub(f)
			}
			_, err := f.verify(t, pub)
			var ve *attest.VerifyError
			if !errors.As(err, &ve) || !strings.Contains(ve.Reason, tt.reason) {
				t.Fatalf("err = %v, want reason containing %q", err, tt.reason)
			}
			if tt.edit != nil && ve.Envelope != tt.line+1 {
				t.Errorf("envelope = %d, want %d", ve.Envelope, tt.line+1)
			}
		})
	}
}

// Every single byte of the file matters: changing any one is rejected.
func TestVerifyRejectsAnySingleByteChange(t *testing.T) {
	f := newFixture(t)
	orig, _ := os.ReadFile(f.file)
	step := max(1, len(orig)/200)
	for i := 0; i < len(orig); i += step {
		if orig[i] == '\n' {
			continue
		}
		b := bytes.Clone(orig)
		b[i] ^= 0x01
		if _, err := attest.Verify(b, f.pub, f.dir); err == nil {
			// A flip inside a JSON key may only rename a field the
			// parser ignores; that changes nothing signed.
			if !insideIgnorable(orig, i) {
				t.Errorf("byte %d (%q) changed, yet verified", i, orig[i])
			}
		}
	}
}

// insideIgnorable reports whether byte i is part of the envelope's own
// unsigned framing: its "keyid" hint or a field name.
func insideIgnorable(b []byte, i int) bool {
	line := b[bytes.LastIndexByte(b[:i], '\n')+1:]
	off := i - (bytes.LastIndexByte(b[:i], '\n') + 1)
	if end := bytes.IndexByte(line, '\n'); end >= 0 {
		line = line[:end]
	}
	k := bytes.Index(line, []byte(`"keyid":"`))
	if k >= 0 && off >= k && off < k+len(`"keyid":"`)+64+1 {
		return true
	}
	for _, key := range []string{`"payloadType"`, `"payload"`, `"signatures"`, `"sig"`} {
		if j := bytes.Index(line, []byte(key)); j >= 0 && off > j && off < j+len(key)-1 {
			return true
		}
	}
	return false
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	for _, existing := range []string{"", ".pub"} {
		prefix := filepath.Join(t.TempDir(), "k")
		os.WriteFile(prefix+existing, []byte("keep"), 0o600)
		err := attest.Keygen(prefix)
		if err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("existing %q: err = %v", prefix+existing, err)
		}
		if b, _ := os.ReadFile(prefix + existing); string(b) != "keep" {
			t.Errorf("%s was overwritten", prefix+existing)
		}
	}
	prefix := filepath.Join(t.TempDir(), "k")
	if err := attest.Keygen(prefix); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(prefix); st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v, want 0600", st.Mode().Perm())
	}
}

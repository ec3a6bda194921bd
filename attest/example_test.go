package attest_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/attest"
	"github.com/cleanroomhq/cleanroom/report"
)

// The whole flow: a key pair, a finished run whose report is on disk, the
// signed attestation about it, and its verification.
func Example() {
	dir, err := os.MkdirTemp("", "attest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The key pair, as `cleanroom keygen --out DIR/ci` writes it: the
	// signer keeps DIR/ci, anyone who checks gets DIR/ci.pub.
	prefix := filepath.Join(dir, "ci")
	if err := attest.Keygen(prefix); err != nil {
		log.Fatal(err)
	}
	priv, err := attest.LoadPrivateKey(prefix)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := attest.LoadPublicKey(prefix + ".pub")
	if err != nil {
		log.Fatal(err)
	}

	// A finished run: its suite file and its report are what the
	// attestation hashes.
	suiteFile := filepath.Join(dir, "users.cleanroom.toml")
	if err := os.WriteFile(suiteFile, []byte("name = \"users\"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	start := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	run := &report.Run{
		Schema: report.SchemaVersion, Cleanroom: "v0.1.0", Backend: "docker",
		Started: start, Finished: start.Add(2 * time.Second),
		Suites: []*report.Suite{{
			Name: "users", File: suiteFile, Seed: 42, Status: report.Failed,
			Services: []*report.Service{{Name: "db", Kind: "postgres", Image: "postgres:16"}},
			Scenarios: []*report.Scenario{
				{Name: "create user", Status: report.Passed},
				{Name: "delete user", Status: report.Failed},
			},
		}},
	}
	run.Tally()
	reportFile := filepath.Join(dir, "report.json")
	if err := report.WriteFile(reportFile, report.FormatJSON, run); err != nil {
		log.Fatal(err)
	}

	// Sign: two in-toto statements about the report, one DSSE envelope
	// each, one per line.
	statements, err := attest.Build(run, attest.Options{Subjects: []string{reportFile}})
	if err != nil {
		log.Fatal(err)
	}
	data, err := attest.Marshal(statements, priv)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("envelopes:", bytes.Count(data, []byte("\n")))

	// Verify: the signatures with the public key, the report by its
	// sha256 in the folder that holds it.
	sum, err := attest.Verify(data, pub, dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("subjects:", sum.Subjects)
	fmt.Println("result:", sum.Result)
	fmt.Println("passed:", sum.PassedTests)
	fmt.Println("failed:", sum.FailedTests)
	fmt.Println("suite:", sum.Run.Suites[0].Name, "seed", sum.Run.Suites[0].Seed)
	fmt.Println("images:", sum.Run.Images)
	// Output:
	// envelopes: 2
	// subjects: [report.json]
	// result: FAILED
	// passed: [users/create user]
	// failed: [users/delete user]
	// suite: users seed 42
	// images: [{postgres:16 }]
}

// exampleAttestation writes a passed run's report.json into dir and returns
// its signed attestation and the public key that checks it.
func exampleAttestation(dir string) (data []byte, pub ed25519.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	suiteFile := filepath.Join(dir, "hello.cleanroom.toml")
	if err := os.WriteFile(suiteFile, []byte("name = \"hello\"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	run := &report.Run{
		Schema: report.SchemaVersion, Cleanroom: "v0.1.0", Backend: "docker",
		Suites: []*report.Suite{{Name: "hello", File: suiteFile, Status: report.Passed,
			Scenarios: []*report.Scenario{{Name: "greets", Status: report.Passed}}}},
	}
	run.Tally()
	reportFile := filepath.Join(dir, "report.json")
	if err := report.WriteFile(reportFile, report.FormatJSON, run); err != nil {
		log.Fatal(err)
	}
	statements, err := attest.Build(run, attest.Options{Subjects: []string{reportFile}})
	if err != nil {
		log.Fatal(err)
	}
	data, err = attest.Marshal(statements, priv)
	if err != nil {
		log.Fatal(err)
	}
	return data, pub
}

// A report changed after the run no longer matches its attestation; the
// error names the envelope and the file.
func ExampleVerify_changedReport() {
	dir, err := os.MkdirTemp("", "attest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data, pub := exampleAttestation(dir)

	reportFile := filepath.Join(dir, "report.json")
	b, err := os.ReadFile(reportFile)
	if err != nil {
		log.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"status": "passed"`), []byte(`"status": "Passed"`), 1)
	if err := os.WriteFile(reportFile, b, 0o644); err != nil {
		log.Fatal(err)
	}

	_, err = attest.Verify(data, pub, dir)
	var verr *attest.VerifyError
	if errors.As(err, &verr) {
		fmt.Println("envelope:", verr.Envelope)
		fmt.Println("subject:", verr.Subject)
		fmt.Println("changed:", strings.HasSuffix(verr.Reason, "the file was changed"))
	}
	// Output:
	// envelope: 1
	// subject: report.json
	// changed: true
}

// An attestation signed with another key is rejected before anything it
// says is believed.
func ExampleVerify_wrongKey() {
	dir, err := os.MkdirTemp("", "attest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data, _ := exampleAttestation(dir)
	other, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}

	sum, err := attest.Verify(data, other, dir)
	var verr *attest.VerifyError
	if errors.As(err, &verr) {
		reason, _, _ := strings.Cut(verr.Reason, " with key")
		fmt.Printf("envelope %d: %s\n", verr.Envelope, reason)
	}
	fmt.Println("summary:", sum)
	// Output:
	// envelope 1: signature does not verify
	// summary: <nil>
}

// Another party needs no cleanroom to check an attestation: each line is a
// DSSE envelope whose ed25519 signature covers DSSE's pre-authentication
// encoding of the payload, and the payload is an in-toto Statement that
// names the report files by sha256. The standard library does it all.
func Example_standardLibraryOnly() {
	dir, err := os.MkdirTemp("", "attest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data, pub := exampleAttestation(dir)

	lines := bufio.NewScanner(bytes.NewReader(data))
	lines.Buffer(nil, 64<<20)
	for lines.Scan() {
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     []byte `json:"payload"` // base64, decoded by encoding/json
			Signatures  []struct {
				KeyID string `json:"keyid"`
				Sig   []byte `json:"sig"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(lines.Bytes(), &env); err != nil {
			log.Fatal(err)
		}
		pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(env.PayloadType), env.PayloadType, len(env.Payload), env.Payload)
		signed := len(env.Signatures) > 0 && ed25519.Verify(pub, pae, env.Signatures[0].Sig)

		var st struct {
			Type          string `json:"_type"`
			PredicateType string `json:"predicateType"`
			Subject       []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			log.Fatal(err)
		}
		fmt.Println(st.PredicateType)
		fmt.Println("  statement:", st.Type)
		fmt.Println("  signed by the key:", signed)
		for _, s := range st.Subject {
			// A subject is a file of the reports folder: Base keeps a
			// hostile name from pointing anywhere else.
			b, err := os.ReadFile(filepath.Join(dir, filepath.Base(s.Name)))
			if err != nil {
				log.Fatal(err)
			}
			sum := sha256.Sum256(b)
			fmt.Printf("  %s unchanged: %v\n", s.Name, hex.EncodeToString(sum[:]) == s.Digest["sha256"])
		}
	}
	// Output:
	// https://in-toto.io/attestation/test-result/v0.1
	//   statement: https://in-toto.io/Statement/v1
	//   signed by the key: true
	//   report.json unchanged: true
	// https://github.com/cleanroomhq/cleanroom/attestation/run/v1
	//   statement: https://in-toto.io/Statement/v1
	//   signed by the key: true
	//   report.json unchanged: true
}

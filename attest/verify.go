package attest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	trv0 "github.com/in-toto/attestation/go/predicates/test_result/v0"
	ita "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// VerifyError says why an attestation was rejected. Envelope is the 1-based
// line of the envelope at fault (0: the file as a whole); Subject is the
// subject file at fault, if any.
type VerifyError struct {
	Envelope int
	Subject  string
	Reason   string
	Err      error
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	if e.Envelope > 0 {
		fmt.Fprintf(&b, "envelope %d: ", e.Envelope)
	}
	if e.Subject != "" {
		fmt.Fprintf(&b, "subject %s: ", e.Subject)
	}
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Summary is what a verified attestation says.
type Summary struct {
	Result      string   // PASSED, WARNED or FAILED
	PassedTests []string // suite/scenario
	WarnedTests []string
	FailedTests []string
	Subjects    []string // the report files checked
	// Run is cleanroom's own predicate; nil when the file has none (a
	// test-result statement alone is still a valid attestation).
	Run *RunPredicate
}

// Verify checks an attestation file's bytes: every envelope must carry an
// in-toto Statement, signed by pub, about subjects whose sha256 matches the
// file of the same name in reportsDir. It returns what was attested, or a
// *VerifyError naming the first thing that did not hold.
func Verify(data []byte, pub ed25519.PublicKey, reportsDir string) (*Summary, error) {
	verifier, err := dsse.NewEnvelopeVerifier(ed25519SV{pub: pub})
	if err != nil {
		return nil, err
	}
	keyID, _ := dsse.SHA256KeyID(pub)
	sum := &Summary{}
	var haveResult bool
	checked := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		fail := func(reason string, err error) error {
			return &VerifyError{Envelope: line, Reason: reason, Err: err}
		}
		var env dsse.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, fail("not a DSSE envelope", err)
		}
		if env.PayloadType != PayloadType {
			return nil, fail(fmt.Sprintf("payload type is %q, want %q", env.PayloadType, PayloadType), nil)
		}
		if len(env.Signatures) == 0 {
			return nil, fail("not signed", nil)
		}
		if _, err := base64.StdEncoding.DecodeString(env.Payload); err != nil {
			return nil, fail("payload is not valid base64", err)
		}
		for _, s := range env.Signatures {
			if _, err := base64.StdEncoding.DecodeString(s.Sig); err != nil {
				return nil, fail("signature is not valid base64", err)
			}
		}
		_, payload, err := verifier.VerifyAndDecode(context.Background(), &env)
		if err != nil {
			return nil, fail(fmt.Sprintf("signature does not verify with key %s (wrong key, or the payload or signature was changed)", short(keyID, env)), nil)
		}
		var st ita.Statement
		if err := protojson.Unmarshal(payload, &st); err != nil {
			return nil, fail("payload is not an in-toto Statement", err)
		}
		if err := st.Validate(); err != nil {
			return nil, fail("invalid in-toto Statement", err)
		}
		for _, subj := range st.Subject {
			if err := checkSubject(subj, reportsDir); err != nil {
				err.Envelope = line
				return nil, err
			}
			if !checked[subj.Name] {
				checked[subj.Name] = true
				sum.Subjects = append(sum.Subjects, subj.Name)
			}
		}
		pred, err := protojson.Marshal(st.Predicate)
		if err != nil {
			return nil, fail("predicate", err)
		}
		switch st.PredicateType {
		case TestResultPredicateType:
			var tr trv0.TestResult
			if err := protojson.Unmarshal(pred, &tr); err != nil {
				return nil, fail("test-result predicate", err)
			}
			haveResult = true
			sum.Result, sum.PassedTests, sum.WarnedTests, sum.FailedTests = tr.Result, tr.PassedTests, tr.WarnedTests, tr.FailedTests
		case RunPredicateType:
			var rp RunPredicate
			if err := json.Unmarshal(pred, &rp); err != nil {
				return nil, fail("cleanroom run predicate", err)
			}
			sum.Run = &rp
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &VerifyError{Reason: "reading the attestation", Err: err}
	}
	if line == 0 {
		return nil, &VerifyError{Reason: "empty attestation"}
	}
	if !haveResult {
		return nil, &VerifyError{Reason: "no " + TestResultPredicateType + " statement"}
	}
	return sum, nil
}

// short names the key that was expected, and the one the envelope claims
// when it differs.
func short(want string, env dsse.Envelope) string {
	s := abbrev(want)
	for _, sig := range env.Signatures {
		if sig.KeyID != "" && sig.KeyID != want {
			return s + "; the envelope was signed by key " + abbrev(sig.KeyID)
		}
	}
	return s
}

func abbrev(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

func checkSubject(d *ita.ResourceDescriptor, dir string) *VerifyError {
	name := d.Name
	// A subject names a file next to the reports; a path that climbs out
	// of the folder would let a statement vouch for any file on the host.
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return &VerifyError{Subject: name, Reason: "name is not a file inside the reports folder"}
	}
	want := d.Digest["sha256"]
	if want == "" {
		return &VerifyError{Subject: name, Reason: "has no sha256 digest"}
	}
	got, err := sha256File(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return &VerifyError{Subject: name, Reason: "cannot be read", Err: err}
	}
	if got != want {
		return &VerifyError{Subject: name, Reason: fmt.Sprintf("sha256 is %s, the attestation says %s: the file was changed", got, want)}
	}
	return nil
}

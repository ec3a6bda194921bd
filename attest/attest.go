// Package attest turns a finished run into evidence another party can check:
// in-toto Statements about the run's report files, signed with ed25519 in
// DSSE envelopes, and the verification of such a file against the reports.
//
// File format. An attestation file is an in-toto bundle: JSON Lines, one DSSE
// envelope per line, each carrying one in-toto Statement v1 about the same
// subjects (the run's report files by name and sha256):
//
//  1. predicate type https://in-toto.io/attestation/test-result/v0.1: the
//     result, the suite files (configuration) and the passed, warned and
//     failed tests, as the spec defines them;
//  2. predicate type [RunPredicateType]: what only cleanroom knows (images,
//     the effective policy of every container, seeds, backend and engine,
//     versions, times).
//
// Two statements rather than one: a Statement carries exactly one predicate,
// and the test-result predicate is a closed message (the in-toto Go type has
// no field for anything else), so cleanroom's data folded into it would be
// dropped by every consumer that parses it with the published types. Keeping
// the test-result statement pure lets generic in-toto policy engines read it,
// and the bundle format is in-toto's own way to ship several statements.
package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	trv0 "github.com/in-toto/attestation/go/predicates/test_result/v0"
	ita "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/report"
)

// Predicate types of the two statements of an attestation.
const (
	TestResultPredicateType = "https://in-toto.io/attestation/test-result/v0.1"
	RunPredicateType        = "https://github.com/cleanroomhq/cleanroom/attestation/run/v1"
)

// Results of the test-result predicate.
const (
	ResultPassed = "PASSED"
	ResultWarned = "WARNED"
	ResultFailed = "FAILED"
)

// Options says what to attest besides the run itself.
type Options struct {
	// Subjects are the paths of the report files the statements are about.
	// Each is named by its base name, which is how Verify finds it again
	// in the reports folder, so two subjects may not share one.
	Subjects []string
	// AuditLog is the run's audit.jsonl, if any: the only record of the
	// image each one-shot step's container ran, which the report lacks.
	AuditLog string
}

// RunPredicate is cleanroom's own account of a run.
type RunPredicate struct {
	Cleanroom     string      `json:"cleanroomVersion"`
	Backend       string      `json:"backend"`
	EngineVersion string      `json:"engineVersion,omitempty"`
	Started       time.Time   `json:"startedOn"`
	Finished      time.Time   `json:"finishedOn"`
	Suites        []Suite     `json:"suites"`
	Images        []Image     `json:"images"`
	Containers    []Container `json:"containers"`
}

// Suite is one suite file of the run.
type Suite struct {
	Name    string `json:"name"`
	File    string `json:"file"`
	Seed    int64  `json:"seed"`
	Session string `json:"sessionId,omitempty"`
	Status  string `json:"status"`
}

// Image is one image the run's containers ran. Digest is empty when the
// report does not know it.
type Image struct {
	Name   string `json:"name"`
	Digest string `json:"digest,omitempty"`
}

// Container is one container of the run with the policy it ran under.
type Container struct {
	Suite  string         `json:"suite"`
	Name   string         `json:"name"` // service name, or scenario/step of a one-shot
	Kind   string         `json:"kind"` // "service" or "one-shot"
	Image  string         `json:"image,omitempty"`
	Policy *policy.Policy `json:"policy,omitempty"`
}

// Build makes the two statements of a run's attestation: the test-result
// one first, then cleanroom's. The subject files and the suite files are
// read to hash them.
func Build(run *report.Run, opts Options) ([]*ita.Statement, error) {
	subjects, err := describeFiles(opts.Subjects, true)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if len(subjects) == 0 {
		return nil, fmt.Errorf("no subjects: an attestation is about the run's report files")
	}
	var files []string
	for _, s := range run.Suites {
		files = append(files, s.File)
	}
	config, err := describeFiles(files, false)
	if err != nil {
		return nil, fmt.Errorf("suite file: %w", err)
	}
	tr := testResult(run)
	tr.Configuration = config
	trStruct, err := toStruct(tr)
	if err != nil {
		return nil, err
	}
	rp := runPredicate(run)
	if opts.AuditLog != "" {
		if err := addAudit(rp, opts.AuditLog); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
	}
	runStruct, err := toStruct(rp)
	if err != nil {
		return nil, err
	}
	statements := []*ita.Statement{
		{Type: ita.StatementTypeUri, Subject: subjects, PredicateType: TestResultPredicateType, Predicate: trStruct},
		{Type: ita.StatementTypeUri, Subject: cloneSubjects(subjects), PredicateType: RunPredicateType, Predicate: runStruct},
	}
	for _, st := range statements {
		if err := st.Validate(); err != nil {
			return nil, fmt.Errorf("statement %s: %w", st.PredicateType, err)
		}
	}
	return statements, nil
}

func cloneSubjects(in []*ita.ResourceDescriptor) []*ita.ResourceDescriptor {
	out := make([]*ita.ResourceDescriptor, len(in))
	for i, d := range in {
		out[i] = proto.Clone(d).(*ita.ResourceDescriptor)
	}
	return out
}

// describeFiles hashes each file; byBase names a file by its base name
// (subjects, found again next to the attestation), otherwise by its path as
// the report gives it (suite files).
func describeFiles(paths []string, byBase bool) ([]*ita.ResourceDescriptor, error) {
	var out []*ita.ResourceDescriptor
	seen := map[string]bool{}
	for _, p := range paths {
		name := p
		if byBase {
			name = filepath.Base(p)
		}
		if seen[name] {
			if byBase {
				return nil, fmt.Errorf("two files named %s", name)
			}
			continue
		}
		seen[name] = true
		sum, err := sha256File(p)
		if err != nil {
			return nil, err
		}
		out = append(out, &ita.ResourceDescriptor{Name: filepath.ToSlash(name), Digest: map[string]string{"sha256": sum}})
	}
	return out, nil
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// testResult maps the run onto the test-result predicate. A scenario that
// failed or could not run is a failed test; one that passed only because a
// nondeterministic step was allowed (--allow-flaky), or was skipped, is a
// warned one; the run's result is the worst of them.
func testResult(run *report.Run) *trv0.TestResult {
	tr := &trv0.TestResult{}
	for _, s := range run.Suites {
		for _, sc := range s.Scenarios {
			name := s.Name + "/" + sc.Name
			switch {
			case sc.Status == report.Failed || sc.Status == report.Errored:
				tr.FailedTests = append(tr.FailedTests, name)
			case sc.Status == report.Skipped || flaky(sc):
				tr.WarnedTests = append(tr.WarnedTests, name)
			default:
				tr.PassedTests = append(tr.PassedTests, name)
			}
		}
	}
	switch {
	case len(tr.FailedTests) > 0 || run.Status == report.Failed || run.Status == report.Errored:
		tr.Result = ResultFailed
	case len(tr.WarnedTests) > 0:
		tr.Result = ResultWarned
	default:
		tr.Result = ResultPassed
	}
	return tr
}

func flaky(sc *report.Scenario) bool {
	return slices.ContainsFunc(sc.Steps, func(st *report.Step) bool { return st.Flaky != nil })
}

func runPredicate(run *report.Run) *RunPredicate {
	p := &RunPredicate{Cleanroom: run.Cleanroom, Backend: run.Backend, EngineVersion: run.EngineVersion,
		Started: run.Started, Finished: run.Finished, Suites: []Suite{}, Images: []Image{}, Containers: []Container{}}
	images := map[string]int{} // name → index in p.Images
	addImage := func(name, digest string) {
		if name == "" {
			return
		}
		if i, ok := images[name]; ok {
			if p.Images[i].Digest == "" {
				p.Images[i].Digest = digest
			}
			return
		}
		images[name] = len(p.Images)
		p.Images = append(p.Images, Image{Name: name, Digest: digest})
	}
	for _, s := range run.Suites {
		p.Suites = append(p.Suites, Suite{Name: s.Name, File: s.File, Seed: s.Seed, Session: s.Session, Status: string(s.Status)})
		for _, svc := range s.Services {
			addImage(svc.Image, svc.ImageID)
			p.Containers = append(p.Containers, Container{Suite: s.Name, Name: svc.Name, Kind: "service", Image: svc.Image, Policy: svc.Policy})
		}
		for _, sc := range s.Scenarios {
			for _, st := range sc.Steps {
				// Only a one-shot step has a container (and policy) of its own.
				if st.Policy == nil {
					continue
				}
				p.Containers = append(p.Containers, Container{Suite: s.Name, Name: sc.Name + "/" + st.Name, Kind: "one-shot", Policy: st.Policy})
			}
		}
	}
	slices.SortFunc(p.Images, func(a, b Image) int { return compare(a.Name, b.Name) })
	return p
}

// addAudit takes the images of one-shot containers from the audit log.
func addAudit(p *RunPredicate, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(b)) {
		var rec struct{ Suite, Container, Kind, Image string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return err
		}
		if rec.Image != "" && !slices.ContainsFunc(p.Images, func(im Image) bool { return im.Name == rec.Image }) {
			p.Images = append(p.Images, Image{Name: rec.Image})
		}
		for i, c := range p.Containers {
			if c.Kind == rec.Kind && c.Suite == rec.Suite && c.Image == "" && strings.HasSuffix(c.Name, "/"+rec.Container) {
				p.Containers[i].Image = rec.Image
			}
		}
	}
	slices.SortFunc(p.Images, func(a, b Image) int { return compare(a.Name, b.Name) })
	return nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// toStruct converts a predicate (a protobuf message or a plain Go value)
// into the Struct a Statement carries.
func toStruct(v any) (*structpb.Struct, error) {
	var b []byte
	var err error
	if m, ok := v.(proto.Message); ok {
		b, err = protojson.Marshal(m)
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	return s, nil
}

// Package report holds the results of a run and writes them in the formats
// people and CI systems read: JSON (cleanroom's own, versioned schema) and
// JUnit XML. The runner fills the model; nothing here runs anything.
package report

import (
	"fmt"
	"time"

	"github.com/cleanroomhq/cleanroom/policy"
)

// SchemaVersion is the version of the JSON report. It changes when a field
// changes meaning or disappears; added fields do not change it.
const SchemaVersion = "cleanroom.report/v1"

// Status of a suite, scenario or step.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
	// Errored: the infrastructure failed (engine unreachable, image
	// missing, a service never became ready), not the code under test.
	Errored Status = "error"
)

// Run is one `cleanroom run`.
type Run struct {
	Schema        string    `json:"schema"`
	Cleanroom     string    `json:"cleanroom_version"`
	Backend       string    `json:"backend"`
	EngineVersion string    `json:"engine_version,omitempty"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	DurationMS    float64   `json:"duration_ms"`
	Status        Status    `json:"status"`
	Suites        []*Suite  `json:"suites"`
	Summary       Summary   `json:"summary"`
}

// Summary counts scenarios by status.
type Summary struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Errored int `json:"errors"`
	// Steps counts the declared steps the same way: together with the
	// scenarios above, the coverage of what the suites declare.
	Steps StepCounts `json:"steps"`
}

// StepCounts counts steps by status.
type StepCounts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Errored int `json:"errors"`
}

// Suite is one suite file.
type Suite struct {
	Name       string      `json:"name"`
	File       string      `json:"file"`
	Session    string      `json:"session_id,omitempty"`
	Seed       int64       `json:"seed"`
	Status     Status      `json:"status"`
	Started    time.Time   `json:"started"`
	DurationMS float64     `json:"duration_ms"`
	Services   []*Service  `json:"services"`
	Scenarios  []*Scenario `json:"scenarios"`
	// Error is set when the suite could not run at all (a service failed
	// to start); its scenarios are then skipped.
	Error string `json:"error,omitempty"`
}

// Service is one service as it was started for the suite.
type Service struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Image string `json:"image"`
	// ImageID is the content digest of the image that ran ("sha256:…").
	ImageID  string    `json:"image_id,omitempty"`
	Address  string    `json:"address,omitempty"`
	Started  time.Time `json:"started"`
	ReadyMS  float64   `json:"ready_ms"`
	Restarts int       `json:"restarts,omitempty"`
	// Policy is the effective policy its container ran under.
	Policy *policy.Policy `json:"policy,omitempty"`
	// Resources is what it used during the steps run against it: the
	// highest memory and process counts, CPU time and I/O summed.
	Resources *Resources `json:"resources,omitempty"`
	// Log is its output (stdout and stderr), in the run's output folder.
	Log string `json:"log,omitempty"`
	// Coverage is the code coverage of a service built with -cover.
	Coverage *Coverage `json:"coverage,omitempty"`
}

// Coverage is what `go tool covdata` made of a service's counters.
type Coverage struct {
	Profile  string            `json:"profile,omitempty"` // coverage.out in the run's output folder
	Packages []PackageCoverage `json:"packages"`
	Error    string            `json:"error,omitempty"` // why there is none
}

// PackageCoverage is one package's share of statements run.
type PackageCoverage struct {
	Package string  `json:"package"`
	Percent float64 `json:"percent"`
}

// Resources is what a container used, sampled from the engine while steps
// ran. Memory and processes are peaks; CPU and I/O are totals.
type Resources struct {
	CPUSeconds       float64 `json:"cpu_seconds"`
	MemoryPeakBytes  int64   `json:"memory_peak_bytes"`
	MemoryLimitBytes int64   `json:"memory_limit_bytes,omitempty"`
	PidsPeak         int64   `json:"pids_peak"`
	PidsLimit        int64   `json:"pids_limit,omitempty"`
	NetRxBytes       uint64  `json:"net_rx_bytes"`
	NetTxBytes       uint64  `json:"net_tx_bytes"`
	BlockReadBytes   uint64  `json:"block_read_bytes"`
	BlockWriteBytes  uint64  `json:"block_write_bytes"`
	// MemoryLimitHits counts the times the memory limit was reached;
	// OOMKills the processes the kernel killed for it; PidsLimitHits the
	// forks the process limit refused.
	MemoryLimitHits uint64 `json:"memory_limit_hits,omitempty"`
	OOMKills        uint64 `json:"oom_kills,omitempty"`
	PidsLimitHits   uint64 `json:"pids_limit_hits,omitempty"`
	Samples         int    `json:"samples"`
}

// Bytes writes a measured byte count the way people read it: "12.3MiB".
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// Add folds a step's usage into a service's totals.
func (r *Resources) Add(o *Resources) {
	r.CPUSeconds += o.CPUSeconds
	r.MemoryPeakBytes = max(r.MemoryPeakBytes, o.MemoryPeakBytes)
	r.MemoryLimitBytes = o.MemoryLimitBytes
	r.PidsPeak = max(r.PidsPeak, o.PidsPeak)
	r.PidsLimit = o.PidsLimit
	r.NetRxBytes += o.NetRxBytes
	r.NetTxBytes += o.NetTxBytes
	r.BlockReadBytes += o.BlockReadBytes
	r.BlockWriteBytes += o.BlockWriteBytes
	r.MemoryLimitHits += o.MemoryLimitHits
	r.OOMKills += o.OOMKills
	r.PidsLimitHits += o.PidsLimitHits
	r.Samples += o.Samples
}

// Scenario is one scenario of a suite.
type Scenario struct {
	Name       string    `json:"name"`
	Status     Status    `json:"status"`
	Started    time.Time `json:"started"`
	DurationMS float64   `json:"duration_ms"`
	ResetMS    float64   `json:"reset_ms"` // time spent restoring clean state before it
	// Seed is the scenario's own, derived from the suite's and its name.
	Seed  int64   `json:"seed"`
	Steps []*Step `json:"steps"`
	// Error is why the scenario could not run (its clean state could not
	// be restored, the run was interrupted).
	Error string `json:"error,omitempty"`
	// Artifacts are the files copied out of services at its end, in the
	// run's output folder.
	Artifacts []string `json:"artifacts,omitempty"`
}

// Step is one step of a scenario.
type Step struct {
	Name       string     `json:"name"`
	Kind       string     `json:"kind"` // exec, sql, redis, http
	Service    string     `json:"service,omitempty"`
	Status     Status     `json:"status"`
	Started    time.Time  `json:"started"`
	DurationMS float64    `json:"duration_ms"`
	Attempts   int        `json:"attempts"`
	Output     *Output    `json:"output,omitempty"`
	Failures   []*Failure `json:"failures,omitempty"`
	// Error is why the step could not produce a result at all (timeout,
	// connection refused); Failures are expectations that did not hold.
	Error    string            `json:"error,omitempty"`
	Captured map[string]string `json:"captured,omitempty"`
	// Pos is where the step is declared: file:line:col.
	Pos string `json:"pos,omitempty"`
	// Seed is the step's own, derived from the scenario's and its name:
	// its templates' .seed and its command's CLEANROOM_SEED.
	Seed int64 `json:"seed"`
	// Policy is the effective policy of a one-shot container; a step that
	// runs in a service runs under the service's.
	Policy *policy.Policy `json:"policy,omitempty"`
	// Resources is what the step's container used while it ran.
	Resources *Resources `json:"resources,omitempty"`
	// Notes are what the runner saw that explains a result without being
	// a failure itself ("process limit reached").
	Notes []string `json:"notes,omitempty"`
	// Digest is a hash of the step's normalized result (see
	// docs/determinism.md): two runs that agree have the same digest.
	Digest string `json:"digest,omitempty"`
	// Flaky is set when, under --repeat, the step's result differed
	// between runs.
	Flaky *Flaky `json:"flaky,omitempty"`
	// Snapshot is what the step's snapshot check did, when it has one.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	// OutputFile is the step's whole output in the run's output folder.
	OutputFile string `json:"output_file,omitempty"`
}

// Flaky describes a step whose normalized result was not the same in every
// run of its scenario.
type Flaky struct {
	Runs      int    `json:"runs"`      // how many times the scenario ran
	Differing []int  `json:"differing"` // the runs (2…) whose result differed from run 1's
	Diff      string `json:"diff"`      // run 1 against the first differing run
}

// Snapshot is the outcome of a step's snapshot check.
type Snapshot struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	Status string `json:"status"` // matched, created, updated, mismatch, missing
}

// Output is what a step produced, by kind.
type Output struct {
	ExitCode     *int              `json:"exit_code,omitempty"`
	Stdout       string            `json:"stdout,omitempty"`
	Stderr       string            `json:"stderr,omitempty"`
	Rows         [][]any           `json:"rows,omitempty"`
	RowsAffected *int64            `json:"rows_affected,omitempty"`
	Reply        any               `json:"reply,omitempty"`
	Status       int               `json:"status,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         string            `json:"body,omitempty"`
}

// Failure is one expectation that did not hold.
type Failure struct {
	Check    string `json:"check"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Diff     string `json:"diff,omitempty"`
	Pos      string `json:"pos,omitempty"`
}

// Tally recomputes the summary and the run's status from the suites.
func (r *Run) Tally() {
	r.Summary = Summary{}
	r.Status = Passed
	for _, s := range r.Suites {
		for _, sc := range s.Scenarios {
			switch sc.Status {
			case Passed:
				r.Summary.Passed++
			case Failed:
				r.Summary.Failed++
			case Skipped:
				r.Summary.Skipped++
			case Errored:
				r.Summary.Errored++
			}
			for _, st := range sc.Steps {
				switch st.Status {
				case Passed:
					r.Summary.Steps.Passed++
				case Failed:
					r.Summary.Steps.Failed++
				case Skipped:
					r.Summary.Steps.Skipped++
				case Errored:
					r.Summary.Steps.Errored++
				}
			}
		}
		switch {
		case s.Status == Errored && r.Status != Failed:
			r.Status = Errored
		case s.Status == Failed:
			r.Status = Failed
		}
	}
}

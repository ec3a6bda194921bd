package suite

import (
	"regexp"
	"time"

	"github.com/cleanroomhq/cleanroom/policy"
)

// Field is a value of the suite file with the position it was written at. A
// Field whose key was not written holds the default and a zero Pos.
type Field[T any] struct {
	Value T
	Pos   Pos
}

// IsSet reports whether the file gave the value (rather than the default).
func (f Field[T]) IsSet() bool { return f.Pos.IsValid() }

// Suite is one *.cleanroom.toml file, loaded and validated.
type Suite struct {
	// File is the path the suite was loaded from, as given; Dir is the
	// absolute directory relative paths in the file are resolved against.
	File string
	Dir  string

	Name        Field[string] // default: the file name without ".cleanroom.toml"
	Description Field[string]
	Timeout     Field[time.Duration] // whole suite; 0 means no limit
	Seed        Field[int64]         // IsSet false: the runner picks one (and reports it)
	// FreezeTime fixes the template function now and the containers'
	// CLEANROOM_TIME (UTC); IsSet false: the real clock.
	FreezeTime Field[time.Time]
	// Normalize are the suite's own rules for what varies between runs,
	// applied after the built-in ones to snapshots and --repeat.
	Normalize []NormalizeRule
	Vars      map[string]Field[any]
	Images    map[string]Field[string] // image reference → replacement
	Policy    *Policy                  // suite-wide default; nil when not given

	Services  []*Service // in file order
	Scenarios []*Scenario
}

// Service returns the service called name, or nil.
func (s *Suite) Service(name string) *Service {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc
		}
	}
	return nil
}

// ImageMap returns the [images] table as reference → replacement.
func (s *Suite) ImageMap() map[string]string {
	out := make(map[string]string, len(s.Images))
	for k, v := range s.Images {
		out[k] = v.Value
	}
	return out
}

// VarValues returns the [vars] table as template data wants it.
func (s *Suite) VarValues() map[string]any {
	out := make(map[string]any, len(s.Vars))
	for k, v := range s.Vars {
		out[k] = v.Value
	}
	return out
}

// Steps counts the steps of all scenarios.
func (s *Suite) Steps() int {
	n := 0
	for _, sc := range s.Scenarios {
		n += len(sc.Steps)
	}
	return n
}

// Service kinds.
const (
	KindPostgres = "postgres"
	KindRedis    = "redis"
	KindGeneric  = "generic"
)

// Restart policies of generic services.
const (
	RestartPerSuite    = "per-suite"    // started once per suite file, shared by its scenarios
	RestartPerScenario = "per-scenario" // restarted before every scenario
	// RestartOnFailure: shared like per-suite, and started again (up to
	// MaxRestarts times) when it exits or stops answering its readiness
	// check, before the next scenario.
	RestartOnFailure = "on-failure"
)

// When a service's artifacts are collected.
const (
	CollectOnFailure = "on-failure"
	CollectAlways    = "always"
)

// DefaultMaxRestarts is how often an on-failure service is restarted in
// one suite when max_restarts is not given.
const DefaultMaxRestarts = 3

// Service is one [services.NAME] table.
type Service struct {
	Name string
	Pos  Pos // the [services.NAME] header (or the key of an inline table)
	Kind Field[string]

	// Image is empty when the file gives none: the kind's default image
	// (postgres:16, redis:7) applies, and a generic service has Build.
	Image Field[string]
	Build *Build

	// postgres
	Database  Field[string]
	User      Field[string]
	Password  Field[string]
	InitSQL   []Template
	InitFiles []HostPath

	Env        map[string]Template
	Entrypoint []Template
	Command    []Template
	Ports      Field[[]int] // the first is the primary port
	Files      []File
	DependsOn  []Field[string]
	Wait       *Wait
	Restart    Field[string] // RestartPerSuite (default), RestartPerScenario or RestartOnFailure
	// MaxRestarts bounds the restarts of an on-failure service; default
	// DefaultMaxRestarts.
	MaxRestarts Field[int]
	Policy      *Policy
	// Artifacts are files copied out of the service's container at the
	// end of each scenario into the run's output folder: after a failed
	// scenario (Collect CollectOnFailure, the default) or every one.
	Artifacts []Field[string]
	Collect   Field[string]
	// Coverage: the service is a Go program built with -cover; it gets
	// GOCOVERDIR, is stopped gracefully at the end of the suite so it
	// writes its counters, and the suite reports its coverage.
	Coverage Field[bool]
}

// PrimaryPort is the port .port, .url and http steps use by default, or 0.
func (s *Service) PrimaryPort() int {
	switch {
	case len(s.Ports.Value) > 0:
		return s.Ports.Value[0]
	case s.Kind.Value == KindPostgres:
		return 5432
	case s.Kind.Value == KindRedis:
		return 6379
	}
	return 0
}

// Build is a generic service's own image, built for the run.
type Build struct {
	Pos        Pos
	Context    HostPath          // directory
	Dockerfile Field[string]     // relative to Context; default "Dockerfile"
	Args       map[string]string // build arguments
	Keep       Field[bool]       // keep the image after the run
}

// HostPath is a path on the runner's machine: Value is as written, Abs is
// resolved against the suite file's directory.
type HostPath struct {
	Value string
	Abs   string
	Pos   Pos
}

// File is one entry of a service's files table: a host file copied into the
// container before it starts.
type File struct {
	Dest   string // absolute path inside the container
	Source HostPath
	Pos    Pos // the destination key
}

// Wait is a generic service's readiness: every check given must pass.
type Wait struct {
	Pos     Pos
	HTTP    Field[string]         // path requested until Status answers
	Port    Field[int]            // port of the HTTP check; alone, a TCP connect check
	Status  Field[int]            // default 200
	Timeout Field[time.Duration]  // default DefaultWaitTimeout
	Log     Field[*regexp.Regexp] // a log line matching it
	Exec    []Template            // a command exiting 0
	ExecPos Pos
}

// Defaults the file may override.
const (
	DefaultWaitTimeout = time.Minute
	DefaultStepTimeout = time.Minute
	DefaultRetryDelay  = time.Second
	DefaultDockerfile  = "Dockerfile"
)

// SpanCheck is one item of expect.spans: spans named Name (Count of them
// when given, else at least one) with these attributes, parent, status and
// order, among those the services sent while the step ran.
type SpanCheck struct {
	Pos          Pos
	Name         Field[string]
	Attributes   map[string]Field[any] // values are Literals
	Parent       Field[string]         // the parent span's name
	Count        Field[int]
	Status       Field[string] // ok | error | unset
	Before       Field[string] // every matching span ends before a span of this name starts
	After        Field[string] // … starts after one of this name ends
	NoAttributes []string      // attribute keys no matching span may have
}

// NormalizeRule replaces every match of Match by Replace ($1 expands a
// group) in normalized output.
type NormalizeRule struct {
	Match   *regexp.Regexp
	Replace string
	Pos     Pos
}

// Policy is a [policy] table of the suite, a service or a step. Layer holds
// only the keys given, so the policy package can merge layers; Keys is where
// each was written, for errors that point at the value to change.
type Policy struct {
	Pos     Pos
	Layer   policy.Layer
	Keys    map[string]Pos
	Require []Field[string] // compliance rules; suite level only
}

// KeyPos returns where key was written, or the table's position.
func (p *Policy) KeyPos(key string) Pos {
	if pos, ok := p.Keys[key]; ok {
		return pos
	}
	return p.Pos
}

// Scenario is one [[scenario]].
type Scenario struct {
	Name  Field[string] // default "scenario N"
	Pos   Pos
	Steps []*Step
}

// StepKind is what a step does.
type StepKind string

// article returns the kind with its indefinite article: "an exec".
func (k StepKind) article() string {
	if k == StepExec || k == StepHTTP {
		return "an " + string(k)
	}
	return "a " + string(k)
}

// Step kinds.
const (
	StepExec  StepKind = "exec"
	StepSQL   StepKind = "sql"
	StepRedis StepKind = "redis"
	StepHTTP  StepKind = "http"
)

// Step is one [[scenario.step]]. Exactly one of Exec, SQL, Redis and HTTP is
// given, as Kind says.
type Step struct {
	Name Field[string] // default "step N"
	Pos  Pos
	Kind StepKind

	// Service the step runs against: the exec container, the sql or redis
	// server, the http target. Empty for a one-shot exec in Image, or an
	// http step with a URL.
	Service Field[string]
	Image   Field[string]

	Exec     []Template
	ExecPos  Pos
	SQL      Template
	Redis    []Template
	RedisPos Pos
	HTTP     *HTTPRequest

	Env               map[string]Template
	Workdir           Template
	User              Field[string]
	Timeout           Field[time.Duration] // default DefaultStepTimeout
	Retries           Field[int]
	RetryDelay        Field[time.Duration] // default DefaultRetryDelay
	ContinueOnFailure Field[bool]
	Capture           []*Capture // in file order
	Snapshot          Field[string]
	Policy            *Policy
	Expect            Expect
}

// HTTPRequest is a step's http table.
type HTTPRequest struct {
	Pos     Pos
	Service Field[string]
	Port    Field[int] // default: the service's primary port
	Method  Field[string]
	Path    Template // default "/"
	URL     Template // instead of Service, Port and Path
	Headers map[string]Template
	Body    Template
	// JSON is sent as the body with Content-Type: application/json. It is
	// a Literal: strings in it are templates.
	JSON Field[any]
}

// Expect holds a step's expectations. Which fields may be set depends on the
// step's kind; MaxDuration applies to every kind.
type Expect struct {
	Pos Pos

	// every kind: spans the services sent while the step ran
	Spans []*SpanCheck

	// exec
	ExitCode       Field[int] // default 0
	Stdout         Template
	Stderr         Template
	StdoutContains []Template
	StderrContains []Template
	StdoutMatches  Field[*regexp.Regexp]
	StderrMatches  Field[*regexp.Regexp]
	StdoutJSON     []JSONCheck

	// sql
	Rows         Field[[][]any] // cells are Literals
	RowCount     Field[int]
	RowsAffected Field[int]

	// sql and redis: the step must fail with this in its error
	ErrorContains []Template

	// redis
	Reply Field[any] // a Literal

	// http
	Status       Field[int]
	Headers      map[string]Template // canonical header name → value
	Body         Template
	BodyContains []Template
	BodyMatches  Field[*regexp.Regexp]
	JSON         []JSONCheck

	MaxDuration Field[time.Duration]
}

// JSONCheck is one "path = value" of stdout_json or json: the value at Path
// must equal Want (a Literal).
type JSONCheck struct {
	Path JSONPath
	Want any
	Pos  Pos
}

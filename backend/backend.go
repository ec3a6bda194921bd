// Package backend is the contract between cleanroom and whatever runs its
// containers: the Docker engine (backend/docker) or sandboxed host processes
// (backend/local). Every backend passes the conformance suite in
// backend/backendtest, so the layers above never branch on which one runs.
package backend

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/cleanroomhq/cleanroom/policy"
)

// Labels every backend puts on what it creates, so that a sweep can find the
// resources of sessions whose owner process is gone.
const (
	LabelSession = "dev.cleanroom.session" // session ID (UUIDv7)
	LabelOwner   = "dev.cleanroom.owner"   // host/pid/start-time of the creating process
	LabelCreated = "dev.cleanroom.created" // RFC 3339 creation time
	LabelService = "dev.cleanroom.service" // service name inside the session
	// LabelKeep marks a built image the user asked to keep (BuildSpec.Keep):
	// neither Close nor a sweep removes it.
	LabelKeep = "dev.cleanroom.keep"
)

// PullPolicy says when a backend may fetch an image it does not have.
type PullPolicy string

const (
	PullMissing PullPolicy = "missing" // pull only when the image is absent (default)
	PullNever   PullPolicy = "never"   // never pull; an absent image is a *errs.ResourceError
	PullAlways  PullPolicy = "always"  // pull before every start
)

// Backend creates isolated sessions and removes what dead sessions left.
type Backend interface {
	// Name is "docker" or "local"; it appears in errors and reports.
	Name() string
	// NewSession creates the session's private network. Everything later
	// started in the session carries spec.Labels.
	NewSession(ctx context.Context, spec SessionSpec) (Session, error)
	// Sweep removes resources labelled with a session whose owner is dead
	// according to alive. It never touches resources without cleanroom labels.
	Sweep(ctx context.Context, alive func(owner string) bool) (SweepReport, error)
	// Close releases the backend's own connections, not sessions.
	Close() error
}

// SessionSpec describes one isolated environment.
type SessionSpec struct {
	ID     string
	Labels map[string]string // at least LabelSession, LabelOwner, LabelCreated
}

// Session is one isolated environment: a private network and the containers
// started in it. Containers reach each other by their Name on that network.
type Session interface {
	ID() string
	// Start creates and starts a container and returns once the backend has
	// started it; readiness is the caller's concern (package ready).
	Start(ctx context.Context, spec ContainerSpec) (Container, error)
	// Run starts a one-shot container, waits until its command exits, and
	// removes it. As with Exec, a non-zero exit code is a result, and when
	// timeout (or ctx) expires the container is killed before Run returns
	// a *errs.TimeoutError.
	Run(ctx context.Context, spec ContainerSpec, timeout time.Duration) (ExecResult, error)
	// Build builds an image from a Dockerfile on the runner's machine and
	// returns a reference Start accepts (ContainerSpec.Image, with any pull
	// policy: the image is local). The image belongs to the session: it
	// carries the session's labels, so a sweep removes it once the owner is
	// dead, and Close removes it, unless spec.Keep.
	//
	// Building the same spec again in the session (every field but Name and
	// Log equal) returns the first image without building again;
	// concurrent calls wait for the one build. A failed build is a
	// *errs.BackendError whose message ends with the last lines of the
	// build output; it is not remembered, so a later call builds again.
	// A backend that cannot build returns a *errs.BackendError saying so.
	//
	// Build is a session operation rather than a field of ContainerSpec
	// because an image outlives the containers made from it: services that
	// share a build, per-scenario restarts and one-shot runs all start from
	// one image, which the session removes once, at Close.
	Build(ctx context.Context, spec BuildSpec) (image string, err error)
	// Close kills and removes every container of the session and its
	// network, then the images it built (except those to keep). It is
	// idempotent and safe for concurrent use.
	Close(ctx context.Context) error
}

// BuildSpec describes an image to build from a Dockerfile.
type BuildSpec struct {
	// Name names the image (with the session); the service name.
	Name string
	// Context is the build context, a directory on the runner's machine.
	Context string
	// Dockerfile is the Dockerfile's path relative to Context (an absolute
	// path must lie inside Context); "" means "Dockerfile".
	Dockerfile string
	// Args are the build arguments (ARG).
	Args map[string]string
	// Keep leaves the image in place after Close and out of sweeps, labelled
	// LabelKeep; removing it is the user's business.
	Keep bool
	// Log, when not nil, receives the build's output line by line as it is
	// produced (a failed build's error repeats the last lines).
	Log func(line string)
}

// ContainerSpec describes a container to start.
type ContainerSpec struct {
	Name string // service name: the host name other containers use
	// Hostname is the container's own host name, when it is not Name (a
	// one-shot container named by a counter keeps a stable host name).
	Hostname   string
	Image      string // already mapped; the backend does not rewrite it
	Pull       PullPolicy
	Entrypoint []string
	Cmd        []string
	Env        map[string]string
	Ports      []int // container ports to publish to the runner
	Files      []File
	Labels     map[string]string
	User       string
	WorkDir    string
	Tmpfs      map[string]string // path → mount options ("size=64m")
	// Binds mounts directories of the runner's machine, writable:
	// container path → host path. It needs the engine on this machine
	// (coverage counters are written to one).
	Binds map[string]string
	// Policy is the container's effective security policy and limits,
	// which the backend enforces through its engine. The zero Policy
	// means no limits on the session's private network.
	Policy policy.Policy
}

// File is copied into a container before it starts.
type File struct {
	Path    string // destination inside the container
	Content []byte // file content; HostPath is read when Content is nil
	// HostPath is a file on the runner's machine.
	HostPath string
	Mode     int64 // 0 means 0o644
}

// Container is a started container.
type Container interface {
	ID() string
	Name() string
	// Endpoint is where the runner reaches a container port: the
	// container's address on the session network, or a published port,
	// dialed with DialContext (the local backend's is loopback inside the
	// session's network namespace).
	// A container without a network (policy network "none") has none.
	Endpoint(ctx context.Context, port int) (host string, hostPort int, err error)
	// Exec runs a command inside the container. A non-zero exit code is a
	// result, not an error. When the timeout (or ctx) expires, the process
	// and its children are killed before Exec returns a *errs.TimeoutError.
	Exec(ctx context.Context, spec ExecSpec) (ExecResult, error)
	// Logs returns the container's combined output so far; with follow it
	// streams until ctx ends or the container stops.
	Logs(ctx context.Context, follow bool) (io.ReadCloser, error)
	CopyTo(ctx context.Context, f File) error
	CopyFrom(ctx context.Context, path string) ([]byte, error)
	// Stop stops the container, giving it grace to exit before it is
	// killed. A zero grace kills at once.
	Stop(ctx context.Context, grace time.Duration) error
	// Remove kills and removes the container.
	Remove(ctx context.Context) error
	// Stats samples the container's resource usage now.
	Stats(ctx context.Context) (Stats, error)
	// State reports whether the container still runs and, once it has
	// stopped, how it ended.
	State(ctx context.Context) (State, error)
}

// Stats is one sample of a container's resource usage. Counters (CPU,
// network and block I/O) are totals since the container started, so the
// usage of a step is the difference of two samples.
type Stats struct {
	At          time.Time
	CPU         time.Duration // CPU time used by all its processes
	Memory      int64         // bytes in use now
	MemoryPeak  int64         // the highest Memory since start, where the engine knows it (else 0)
	MemoryLimit int64         // 0 when unlimited
	Pids        int64         // processes and threads now
	PidsLimit   int64         // 0 when unlimited
	NetRx       uint64        // bytes received
	NetTx       uint64        // bytes sent
	BlockRead   uint64        // bytes
	BlockWrite  uint64        // bytes
	// MemoryLimitHits counts the times the memory limit was reached
	// (cgroup failcnt, or OOM events), where the engine knows it.
	MemoryLimitHits uint64
	// OOMKills counts the processes the kernel's OOM killer has killed in
	// the container, exec'd ones included, where the backend knows it
	// (else 0).
	OOMKills uint64
	// PidsLimitHits counts the forks the process limit has refused, where
	// the backend knows it (else 0).
	PidsLimitHits uint64
}

// State is a container's run state.
type State struct {
	Running   bool
	ExitCode  int  // meaningful when !Running
	OOMKilled bool // the kernel killed a process of the container for memory
	// ImageID is the content digest of the image the container runs
	// ("sha256:…"), which names it whatever tag it was started by.
	ImageID string
	// Error is the engine's explanation when the container could not run.
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// ExecSpec describes one command run in a container.
type ExecSpec struct {
	Cmd     []string
	Env     map[string]string
	WorkDir string
	User    string
	Stdin   []byte
	Timeout time.Duration // 0 means no limit beyond ctx
}

// ExecResult is what a command produced.
type ExecResult struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte
	Duration time.Duration
	// Usage is what a one-shot container (Session.Run) used while it ran;
	// nil for Exec, whose caller samples the container it runs in.
	Usage *Usage
}

// SweepReport lists what a sweep removed.
type SweepReport struct {
	Containers []string
	Networks   []string
	Images     []string // images built by dead sessions (not kept ones)
	Volumes    []string // volumes a policy declared, left by a removal cut short
	Sessions   []string
}

// RunsImages says whether b starts containers from images. A backend that
// runs programs of its own machine instead (the local backend) says so with
// a RunsImages method; service kinds then use their Host form.
func RunsImages(b Backend) bool {
	if r, ok := b.(interface{ RunsImages() bool }); ok {
		return r.RunsImages()
	}
	return true
}

// Restrictions are what a backend cannot do that a suite may ask of it:
// each says why, and is "" where the backend can.
type Restrictions struct {
	// Limits: memory and CPU limits (a rootless local backend has no
	// cgroup to enforce them with).
	Limits string
	// Users: processes that run as a user other than root (a rootless
	// local backend whose user has no subordinate ids to map).
	Users string
}

// RestrictionsOf says what b cannot do, by its Restrictions method; a
// backend without one can do everything.
func RestrictionsOf(b Backend) Restrictions {
	if r, ok := b.(interface{ Restrictions() Restrictions }); ok {
		return r.Restrictions()
	}
	return Restrictions{}
}

// Dialer is a Container whose ports the runner reaches through it rather
// than through its own network stack: the local backend's containers
// listen in the session's network namespace, which the runner is not in.
// Every client the runner opens to a container (SQL, Redis, HTTP,
// readiness) dials through DialContext.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// DialContext connects to address, an Endpoint of c: through c when it is
// a Dialer, else directly.
func DialContext(ctx context.Context, c Container, network, address string) (net.Conn, error) {
	if d, ok := c.(Dialer); ok {
		return d.DialContext(ctx, network, address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Listener is a Session whose containers cannot reach this machine's
// addresses (the local backend's loopback-only network) but in whose
// network this process can listen, for servers cleanroom runs for the
// containers, such as the OTLP receiver of span assertions.
type Listener interface {
	Listen(ctx context.Context, network, address string) (net.Listener, error)
}

// Publisher is a Container whose Endpoint the runner's machine cannot reach
// by itself (a Dialer) but that can make a port reachable on its loopback,
// as an engine's published port is: for code that connects on its own,
// such as a Go test given a DSN.
type Publisher interface {
	Publish(ctx context.Context, port int) (host string, hostPort int, err error)
}

// TimedLogger is a Container that can give its output with each line
// prefixed by when the engine received it (RFC 3339) and, for stderr, the
// stream: what a service log artifact holds. Backends that cannot are
// asked for Logs instead.
type TimedLogger interface {
	TimedLogs(ctx context.Context) ([]byte, error)
}

// Package cleanroom starts the services an integration test needs in an
// isolated environment and removes every trace of them afterwards.
//
// An Env is one session: its own ID, network and labels. Services declared
// with the kinds in service/postgres, service/redis and service/generic start
// in dependency order, independent ones in parallel, and are handed back
// once ready. Close kills and removes everything the session created; a
// later New sweeps what sessions of dead processes left behind.
//
// For `go test`, the helpers in testing.go (Postgres, Redis, Service) give
// each test a ready service with a clean state in a few lines.
package cleanroom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/config"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/owner"
	"github.com/cleanroomhq/cleanroom/internal/pick"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/service"
)

// Env is an isolated environment (a session). It is safe for concurrent use.
type Env struct {
	id          string
	backend     backend.Backend
	ownsBackend bool
	session     backend.Session
	images      map[string]string
	pull        backend.PullPolicy
	policy      policy.Policy // of containers whose spec names none
	private     bool          // WithPrivateEndpoints
	logf        func(string, ...any)

	runs atomic.Int64 // one-shot containers, for unique names

	mu       sync.Mutex
	services map[string]*entry // by service name
	// removing holds, by service name, a channel closed once the last
	// Release has removed the container: a new start of the name waits for
	// it, since the container name is taken until then.
	removing map[string]chan struct{}
	closed   bool

	closeOnce sync.Once
	closeErr  error
}

// entry is a service of the environment, started or starting. done closes
// when the start finished, successfully (inst set) or not (err set).
type entry struct {
	key  string
	refs int
	done chan struct{}
	prev <-chan struct{} // removal of the name's previous container, if any
	inst *service.Instance
	err  error
}

// New creates an environment: it connects to the backend (WithBackend,
// WithBackendName, the project's backend setting or CLEANROOM_BACKEND;
// by default the Docker engine when one answers, else the local backend of
// sandboxed processes), sweeps the leftovers of sessions whose owner process
// is gone, and creates the session's network.
func New(ctx context.Context, opts ...Option) (*Env, error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	images := map[string]string{}
	pull := backend.PullMissing
	backendName := ""
	var projectPolicy *policy.Layer
	if !s.noProject {
		proj, err := config.Load(s.projectDir)
		if err != nil {
			return nil, err
		}
		images, pull, backendName = proj.Images, proj.Pull, proj.Backend
		if proj.Policy != nil {
			projectPolicy = &proj.Policy.Layer
		}
	}
	defaultPolicy := policy.Resolve(projectPolicy).Policy
	if s.policy != nil {
		defaultPolicy = *s.policy
	}
	for k, v := range s.images {
		images[k] = v
	}
	if s.pull != "" {
		pull = s.pull
	}
	logf := s.logf
	if logf == nil {
		logf = func(string, ...any) {}
	}

	if s.backendName != "" {
		backendName = s.backendName
	}
	b, owns := s.backend, false
	if b == nil {
		picked, why, err := pick.Backend(ctx, backendName)
		if err != nil {
			return nil, err
		}
		logf("backend: %s", why)
		b, owns = picked, true
	}
	if !s.noSweep {
		rep, err := b.Sweep(ctx, owner.Alive)
		if err != nil {
			logf("sweep: %v", err)
		} else if len(rep.Sessions) > 0 {
			logf("sweep: removed %d container(s), %d network(s) and %d image(s) of %d dead session(s)", len(rep.Containers), len(rep.Networks), len(rep.Images), len(rep.Sessions))
		}
	}

	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("session id: %w", err)
	}
	labels := map[string]string{
		backend.LabelSession: id.String(),
		backend.LabelOwner:   owner.Self().String(),
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}
	sess, err := b.NewSession(ctx, backend.SessionSpec{ID: id.String(), Labels: labels})
	if err != nil {
		if owns {
			_ = b.Close()
		}
		return nil, err
	}
	return &Env{
		id: id.String(), backend: b, ownsBackend: owns, session: sess,
		images: images, pull: pull, policy: defaultPolicy, logf: logf, private: s.private,
		services: map[string]*entry{}, removing: map[string]chan struct{}{},
	}, nil
}

// ID is the session ID (a UUIDv7) that names and labels everything the
// environment creates.
func (e *Env) ID() string { return e.id }

// HostAddress is the address of this machine as the environment's
// containers reach it (the gateway of its network), for servers cleanroom
// runs for them, such as the OTLP receiver of span assertions. A backend
// that cannot say returns an error.
func (e *Env) HostAddress(ctx context.Context) (string, error) {
	h, ok := e.session.(interface {
		HostAddress(context.Context) (string, error)
	})
	if !ok {
		return "", fmt.Errorf("the %s backend cannot say how containers reach this machine", e.backend.Name())
	}
	return h.HostAddress(ctx)
}

// DialContext connects to an address of the environment's containers
// (Endpoint addresses, service URLs): from inside the session's network
// where the backend keeps its containers in a namespace of their own (the
// local backend), else directly. A port published on this machine (a
// service's Host:Port when Instance.Published) is dialed directly.
func (e *Env) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if e.published(address) {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	if d, ok := e.session.(backend.Dialer); ok {
		return d.DialContext(ctx, network, address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// published says whether address is a service's port published on this
// machine.
func (e *Env) published(address string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.services {
		select {
		case <-en.done:
			if in := en.inst; in != nil && in.Published && net.JoinHostPort(in.Host, strconv.Itoa(in.Port)) == address {
				return true
			}
		default:
		}
	}
	return false
}

// Listen listens where the environment's containers can connect: inside
// its network on a backend that keeps one of its own (backend.Listener),
// else on this machine's address on the environment's network
// (HostAddress). The listener's address is the one to give containers.
func (e *Env) Listen(ctx context.Context) (net.Listener, error) {
	if l, ok := e.session.(backend.Listener); ok {
		return l.Listen(ctx, "tcp", "127.0.0.1:0")
	}
	host, err := e.HostAddress(ctx)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
}

// Backend is the backend the environment runs on.
func (e *Env) Backend() backend.Backend { return e.backend }

// Service returns a started service by name.
func (e *Env) Service(name string) (*service.Instance, bool) {
	e.mu.Lock()
	en, ok := e.services[name]
	e.mu.Unlock()
	if !ok {
		return nil, false
	}
	select {
	case <-en.done:
		return en.inst, en.inst != nil
	default:
		return nil, false
	}
}

// Start starts services and returns them, in the order given, once all are
// ready. Dependencies start first; services whose dependencies are met start
// in parallel. Every spec is checked before anything starts: invalid fields,
// unknown dependencies and cycles are returned together as
// ValidationErrors.
//
// Starting a spec that already runs in the environment (same name and same
// Key) returns the running instance and counts one more reference; the same
// name with a different spec is an error.
func (e *Env) Start(ctx context.Context, specs ...service.Spec) ([]*service.Instance, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, &errs.BackendError{Backend: e.backend.Name(), Op: "start", Err: errors.New("environment is closed")}
	}
	entries, fresh, err := e.plan(specs)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	e.mu.Unlock()

	builds := e.startBuilds(ctx, fresh)
	for _, sp := range fresh {
		en := entries[sp.Name]
		deps := map[string]*entry{}
		for _, d := range sp.DependsOn {
			deps[d] = entries[d]
		}
		go func() {
			defer close(en.done)
			en.inst, en.err = e.startOne(ctx, sp, deps, en.prev, builds[buildID(sp.Build)])
			if en.err != nil {
				// Forget the failed start so that a later Start may retry.
				e.mu.Lock()
				if e.services[sp.Name] == en {
					delete(e.services, sp.Name)
				}
				e.mu.Unlock()
			}
		}()
	}
	out := make([]*service.Instance, len(specs))
	var all []error
	for i, sp := range specs {
		en := entries[sp.Name]
		select {
		case <-en.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if en.err != nil {
			all = append(all, en.err)
			continue
		}
		out[i] = en.inst
	}
	if len(all) > 0 {
		return nil, errors.Join(all...)
	}
	return out, nil
}

// plan validates specs against each other and against what runs, and
// registers entries for the new ones. Called with e.mu held.
func (e *Env) plan(specs []service.Spec) (map[string]*entry, []service.Spec, error) {
	var list errs.ValidationErrors
	addErr := func(err error) {
		var many errs.ValidationErrors
		var one *errs.ValidationError
		switch {
		case errors.As(err, &many):
			list = append(list, many...)
		case errors.As(err, &one):
			list = append(list, one)
		default:
			list = append(list, &errs.ValidationError{Message: err.Error()})
		}
	}
	batch := map[string]service.Spec{}
	for _, sp := range specs {
		if err := sp.Validate(); err != nil {
			addErr(err)
		}
		// (Without a command either, sp.Validate said so already.)
		if sp.Image == "" && sp.Build == nil && (len(sp.Command) > 0 || len(sp.Entrypoint) > 0) && backend.RunsImages(e.backend) {
			addErr(&errs.ValidationError{Field: "service " + sp.Name + ": image", Message: "no image given (a command without an image runs only on the local backend)"})
		}
		if prev, dup := batch[sp.Name]; dup && prev.Key() != sp.Key() {
			addErr(&errs.ValidationError{Field: "service " + sp.Name, Message: "declared twice with different settings"})
		}
		batch[sp.Name] = sp
		if en, running := e.services[sp.Name]; running && en.key != sp.Key() {
			addErr(&errs.ValidationError{Field: "service " + sp.Name, Message: "already runs in this environment with different settings; give the new one another name"})
		}
	}
	for _, sp := range specs {
		for _, d := range sp.DependsOn {
			if _, inBatch := batch[d]; !inBatch && e.services[d] == nil {
				addErr(&errs.ValidationError{Field: "service " + sp.Name + ": depends_on", Message: fmt.Sprintf("unknown service %q", d)})
			}
		}
	}
	if cycle := findCycle(batch); cycle != nil {
		addErr(&errs.ValidationError{Field: "depends_on", Message: "dependency cycle: " + strings.Join(cycle, " → ")})
	}
	if len(list) > 0 {
		return nil, nil, list
	}

	entries := map[string]*entry{}
	var fresh []service.Spec
	for _, name := range slices.Sorted(maps.Keys(batch)) {
		sp := batch[name]
		en, running := e.services[name]
		if !running {
			en = &entry{key: sp.Key(), done: make(chan struct{}), prev: e.removing[name]}
			e.services[name] = en
			fresh = append(fresh, sp)
		}
		en.refs++
		entries[name] = en
	}
	// Dependencies that already run are waited on like the new ones.
	for _, sp := range fresh {
		for _, d := range sp.DependsOn {
			entries[d] = e.services[d]
		}
	}
	return entries, fresh, nil
}

// findCycle returns one dependency cycle among specs, or nil.
func findCycle(specs map[string]service.Spec) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range specs[n].DependsOn {
			if _, ok := specs[d]; !ok {
				continue
			}
			switch color[d] {
			case grey:
				i := slices.Index(stack, d)
				return append(slices.Clone(stack[i:]), d)
			case white:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return nil
	}
	for _, n := range slices.Sorted(maps.Keys(specs)) {
		if color[n] == white {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

// startBuilds starts building the images of specs, one build per distinct
// Build, named after the first service (by name) that has it, so that the
// image's name does not depend on which start runs first. The images build
// while the services' dependencies start.
func (e *Env) startBuilds(ctx context.Context, specs []service.Spec) map[string]*pendingImage {
	builds := map[string]*pendingImage{}
	for _, sp := range specs { // sorted by name
		if sp.Build == nil {
			continue
		}
		id := buildID(sp.Build)
		if builds[id] != nil {
			continue
		}
		p := &pendingImage{name: sp.Name, done: make(chan struct{})}
		builds[id] = p
		go func() {
			defer close(p.done)
			p.image, p.err = e.Build(ctx, sp.Name, *sp.Build)
		}()
	}
	return builds
}

// pendingImage is a build under way; done closes when it has ended.
type pendingImage struct {
	name  string // the service it is built for; others share it
	done  chan struct{}
	image string
	err   error
}

// buildID tells builds apart within one Start ("" for no build).
func buildID(b *service.Build) string {
	if b == nil {
		return ""
	}
	id, _ := json.Marshal(b)
	return string(id)
}

// startOne waits for its image's build, if it has one, and its
// dependencies, then starts the service and waits until it is ready.
func (e *Env) startOne(ctx context.Context, sp service.Spec, deps map[string]*entry, prev <-chan struct{}, built *pendingImage) (*service.Instance, error) {
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, d := range sp.DependsOn {
		dep := deps[d]
		select {
		case <-dep.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if dep.err != nil {
			return nil, fmt.Errorf("service %s: not started because its dependency %s failed", sp.Name, d)
		}
	}
	image := config.MapImage(e.images, sp.Image)
	if built != nil {
		select {
		case <-built.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if built.err != nil && built.name != sp.Name {
			// Said once, by the service the image was built for.
			return nil, fmt.Errorf("service %s: not started because the build of its image (shared with service %s) failed", sp.Name, built.name)
		}
		if built.err != nil {
			return nil, built.err
		}
		// The backend never pulls an image it built, whatever the policy.
		image = built.image
	}
	shown := image
	if !backend.RunsImages(e.backend) {
		hs, program, err := forHost(sp)
		if err != nil {
			return nil, err
		}
		sp, image, shown = hs, "", program
	}
	begin := time.Now()
	pol := sp.Policy
	if pol.IsZero() {
		pol = e.policy
	}
	pol = pol.Grant(sp.Needs).WithFiles(filePaths(sp.Files))
	if !backend.RunsImages(e.backend) {
		pol.Seccomp = policy.SeccompNone // what runs, as the audit must say
	}
	if sp.User != "" {
		pol.User = sp.User // the spec's user wins, and the audit says so
	}
	if pol.Memory > 0 && pol.Memory < sp.Needs.MinMemory {
		return nil, &errs.PolicyError{Rule: "memory", Target: "service " + sp.Name,
			Message: fmt.Sprintf("a memory limit of %s is below the %s the %s image needs to start", policy.FormatSize(pol.Memory), policy.FormatSize(sp.Needs.MinMemory), sp.Kind)}
	}
	c, err := e.session.Start(ctx, backend.ContainerSpec{
		Name: sp.Name, Image: image, Pull: e.pull,
		Entrypoint: sp.Entrypoint, Cmd: sp.Command, Env: sp.Env, Ports: sp.Ports,
		Files: sp.Files, User: sp.User, WorkDir: sp.WorkDir, Tmpfs: sp.Tmpfs, Binds: sp.Binds,
		Policy: pol,
	})
	if err != nil {
		return nil, err
	}
	started := time.Since(begin)
	// A container that failed to become ready is removed, so that a later
	// Start may reuse the name (the entry is forgotten on failure).
	fail := func(err error) (*service.Instance, error) {
		_ = c.Remove(context.WithoutCancel(ctx))
		return nil, err
	}
	var host string
	var port int
	published := false
	if p := sp.PrimaryPort(); p != 0 {
		if host, port, err = c.Endpoint(ctx, p); err != nil {
			return fail(fmt.Errorf("service %s (%s): %w%s", sp.Name, shown, err, logTail(ctx, c)))
		}
		if pub, ok := c.(backend.Publisher); ok && !e.private && pol.Network != policy.None {
			if host, port, err = pub.Publish(ctx, p); err != nil {
				return fail(fmt.Errorf("service %s (%s): %w", sp.Name, shown, err))
			}
			published = true
		}
	}
	if sp.Ready != nil {
		if err := sp.Ready.Wait(ctx, c); err != nil {
			return fail(fmt.Errorf("service %s (%s) not ready: %w%s", sp.Name, shown, err, logTail(ctx, c)))
		}
	}
	inst := service.NewInstance(sp, c, host, port)
	inst.Image, inst.StartedAt, inst.ReadyAfter, inst.Policy = shown, begin, time.Since(begin), pol
	inst.Published = published
	e.logf("service %s: %s started in %s, ready in %s", sp.Name, shown, started.Round(time.Millisecond), inst.ReadyAfter.Round(time.Millisecond))
	return inst, nil
}

// Build builds a service's own image in the environment and returns its
// reference (cleanroom-build/<name>:<session tail>), which Start and Run
// accept as an image. Services started with a spec's Build call it
// themselves.
//
// An image is built once per environment: the same build (context,
// Dockerfile, args, keep) asked for again, under any name, returns the
// first image at once. The build output goes to the WithLogf function, line
// by line; a failed build is a *BackendError that ends with its last lines.
// The image is removed at Close unless b.Keep; a sweep removes those of
// environments whose process died.
func (e *Env) Build(ctx context.Context, name string, b service.Build) (string, error) {
	begin := time.Now()
	var lines atomic.Int64
	image, err := e.session.Build(ctx, backend.BuildSpec{
		Name: name, Context: b.Context, Dockerfile: b.Dockerfile, Args: b.Args, Keep: b.Keep,
		Log: func(line string) {
			lines.Add(1)
			e.logf("build %s: %s", name, line)
		},
	})
	if err != nil {
		return "", err
	}
	if lines.Load() > 0 {
		// The build ran here rather than being shared with an earlier one.
		e.logf("build %s: %s built in %s", name, image, time.Since(begin).Round(time.Millisecond))
	}
	return image, nil
}

func filePaths(files []backend.File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

// logTail is the end of a container's output, the first thing a user needs
// when a service never became ready.
func logTail(ctx context.Context, c backend.Container) string { return backend.LogTail(ctx, c, 20) }

// Release gives back one reference to a service obtained through Start. The
// last release removes the service's container.
func (e *Env) Release(ctx context.Context, name string) error {
	e.mu.Lock()
	en, ok := e.services[name]
	if !ok {
		e.mu.Unlock()
		return nil
	}
	en.refs--
	last := en.refs <= 0
	var gone chan struct{}
	if last {
		delete(e.services, name)
		gone = make(chan struct{})
		e.removing[name] = gone
	}
	e.mu.Unlock()
	if !last {
		return nil
	}
	defer func() {
		e.mu.Lock()
		if e.removing[name] == gone {
			delete(e.removing, name)
		}
		e.mu.Unlock()
		close(gone)
	}()
	<-en.done
	if en.inst == nil {
		return nil
	}
	return en.inst.Container.Remove(ctx)
}

// Close kills and removes every container and the network of the session,
// then the images it built (except those built with Keep). It is idempotent and safe to call concurrently: every caller gets the
// result of the one removal.
func (e *Env) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		// A Release may be removing a container right now: the session's
		// Close waits for such a removal before it removes the network.
		e.closeErr = e.session.Close(ctx)
		if e.ownsBackend {
			e.closeErr = errors.Join(e.closeErr, e.backend.Close())
		}
	})
	return e.closeErr
}

// Run runs a one-shot container of spec.Image in the environment (on its
// network, with its labels) until its command exits, and removes it. The
// image map and pull policy apply as for services; an image from Build is
// never pulled (the backend knows it built it).
func (e *Env) Run(ctx context.Context, spec backend.ContainerSpec, timeout time.Duration) (backend.ExecResult, error) {
	spec.Image = config.MapImage(e.images, spec.Image)
	if !backend.RunsImages(e.backend) {
		// The command runs from this machine (see forHost).
		spec.Image = ""
	}
	spec.Pull = e.pull
	if spec.Policy.IsZero() {
		spec.Policy = e.policy
	}
	if spec.Name == "" {
		spec.Name = fmt.Sprintf("run-%d", e.runs.Add(1))
	}
	return e.session.Run(ctx, spec, timeout)
}

// Package docker is the cleanroom backend for a Docker engine. Containers are
// created through testcontainers-go; the operations testcontainers has no API
// for (exec with separate streams and a kill on timeout, kill, network
// sweep) go straight to the engine through the moby client it brings.
package docker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// Name is the backend's name in errors and reports.
const Name = "docker"

// HostEnv names the variable that says where the runner reaches published
// ports. TESTCONTAINERS_HOST_OVERRIDE is honoured too, for users who already
// set it.
const HostEnv = "CLEANROOM_DOCKER_HOST_OVERRIDE"

// Backend runs sessions on a Docker engine.
type Backend struct {
	cli  *client.Client
	host string // where published ports are reached

	mu     sync.Mutex
	closed bool

	memMu    sync.Mutex
	memTotal int64 // the engine's memory, once known (see hostMemory)
}

// Option configures New.
type Option func(*config)

type config struct {
	host string
}

// WithHost sets the address at which the runner reaches published ports,
// overriding CLEANROOM_DOCKER_HOST_OVERRIDE and TESTCONTAINERS_HOST_OVERRIDE.
func WithHost(host string) Option { return func(c *config) { c.host = host } }

// New connects to the engine named by DOCKER_HOST (or the default socket) and
// checks that it answers.
//
// It disables testcontainers' Ryuk reaper for this process: Ryuk needs an
// image pulled from a registry, which fails offline, and cleanroom does its
// own cleanup (labels plus a sweep of dead owners). testcontainers reads that
// setting once per process from the environment, so New sets
// TESTCONTAINERS_RYUK_DISABLED unless the caller already chose a value.
func New(ctx context.Context, opts ...Option) (*Backend, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "connect", Err: err}
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = cli.Close()
		return nil, &errs.BackendError{Backend: Name, Op: "connect", Target: cli.DaemonHost(),
			Err: fmt.Errorf("engine does not answer (start one with scripts/docker-up.sh): %w", err)}
	}
	host := cfg.host
	if host == "" {
		host = defaultHost(cli.DaemonHost())
	}
	return &Backend{cli: cli, host: host}, nil
}

// defaultHost picks where published ports are reached when nothing says so:
// the engine's own host for a TCP engine, loopback for a local socket.
// testcontainers would guess the default gateway when /.dockerenv exists; that
// guess is wrong on machines where the engine runs beside the runner, so
// cleanroom asks the user to say so instead of guessing.
func defaultHost(daemon string) string {
	for _, env := range []string{HostEnv, "TESTCONTAINERS_HOST_OVERRIDE"} {
		if h := os.Getenv(env); h != "" {
			return h
		}
	}
	if u, err := url.Parse(daemon); err == nil && (u.Scheme == "tcp" || u.Scheme == "http" || u.Scheme == "https") {
		if h := u.Hostname(); h != "" {
			return h
		}
	}
	return "127.0.0.1"
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return Name }

// Host is where the runner reaches published ports.
func (b *Backend) Host() string { return b.host }

// Client exposes the engine client for operations outside the contract
// (benchmarks, tests that inspect what the backend did).
func (b *Backend) Client() *client.Client { return b.cli }

// Version reports the engine's version, for reports and attestations.
func (b *Backend) Version(ctx context.Context) (string, error) {
	v, err := b.cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", &errs.BackendError{Backend: Name, Op: "version", Err: err}
	}
	return v.Version, nil
}

// Close implements backend.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return b.cli.Close()
}

// NewSession creates the session's network. It is a user-defined bridge so
// that the engine's embedded DNS resolves service names, and it is internal:
// the engine gives it no route out and publishes no ports from it, so a
// container on it reaches only the other containers of its session. The
// runner reaches them at their addresses on it (see Endpoint), which the
// engine's host routes to.
func (b *Backend) NewSession(ctx context.Context, spec backend.SessionSpec) (backend.Session, error) {
	if spec.ID == "" {
		return nil, &errs.ValidationError{Field: "session", Message: "empty session ID"}
	}
	name := "cleanroom-" + spec.ID
	res, err := b.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver:   "bridge",
		Internal: true,
		Labels:   copyLabels(spec.Labels),
	})
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "create network", Target: name, Err: err}
	}
	return &session{
		b:       b,
		id:      spec.ID,
		labels:  copyLabels(spec.Labels),
		netName: name,
		netID:   res.ID,
		// Only for an engine on this machine: its bridges are ours.
		firewalled: strings.HasPrefix(b.cli.DaemonHost(), "unix://") && isolate(res.ID),
	}, nil
}

// Sweep removes containers, networks and built images of sessions whose
// owner is dead. Images labelled backend.LabelKeep stay.
func (b *Backend) Sweep(ctx context.Context, alive func(owner string) bool) (backend.SweepReport, error) {
	var rep backend.SweepReport
	dead := map[string]bool{} // session → dead
	judge := func(labels map[string]string) bool {
		sess := labels[backend.LabelSession]
		if sess == "" {
			return false
		}
		if d, ok := dead[sess]; ok {
			return d
		}
		d := !alive(labels[backend.LabelOwner])
		dead[sess] = d
		return d
	}
	filter := client.Filters{}.Add("label", backend.LabelSession)
	cs, err := b.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return rep, &errs.BackendError{Backend: Name, Op: "sweep", Err: err}
	}
	var errList []error
	for _, c := range cs.Items {
		if !judge(c.Labels) {
			continue
		}
		if err := b.removeContainer(ctx, c.ID); err != nil {
			errList = append(errList, err)
			continue
		}
		rep.Containers = append(rep.Containers, c.ID)
	}
	ns, err := b.cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return rep, &errs.BackendError{Backend: Name, Op: "sweep", Err: err}
	}
	for _, n := range ns.Items {
		if !judge(n.Labels) {
			continue
		}
		if _, err := b.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errList = append(errList, &errs.BackendError{Backend: Name, Op: "remove network", Target: n.Name, Err: err})
			continue
		}
		if strings.HasPrefix(b.cli.DaemonHost(), "unix://") {
			unisolate(n.ID) // the dead session's own rule (firewall.go), if it made one
		}
		rep.Networks = append(rep.Networks, n.ID)
	}
	// Volumes a policy declared: removed with their container, unless the
	// removal was cut short.
	vs, err := b.cli.VolumeList(ctx, client.VolumeListOptions{Filters: filter})
	if err != nil {
		return rep, &errs.BackendError{Backend: Name, Op: "sweep", Err: err}
	}
	for _, v := range vs.Items {
		if !judge(v.Labels) {
			continue
		}
		if _, err := b.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			errList = append(errList, &errs.BackendError{Backend: Name, Op: "remove volume", Target: v.Name, Err: err})
			continue
		}
		rep.Volumes = append(rep.Volumes, v.Name)
	}
	// Last: the containers made from these images are gone by now.
	imgs, err := b.removeImages(ctx, filter, judge)
	rep.Images = imgs
	if err != nil {
		errList = append(errList, err)
	}
	for s, d := range dead {
		if d {
			rep.Sessions = append(rep.Sessions, s)
		}
	}
	return rep, errors.Join(errList...)
}

// removeContainer kills and removes in one engine call: Force sends SIGKILL,
// so there is no graceful-stop wait.
//
// When another caller (a concurrent Close, a sweep) is already removing the
// container, it waits until the container is gone: callers go on to remove
// the network or reuse the name, which fails while the container exists.
func (b *Backend) removeContainer(ctx context.Context, id string) error {
	_, err := b.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil || isNotFound(err):
		return nil
	case isRemovalInProgress(err):
		return b.waitGone(ctx, id)
	}
	return &errs.BackendError{Backend: Name, Op: "remove container", Target: shortID(id), Err: err}
}

// waitGone polls until the engine no longer knows the container.
func (b *Backend) waitGone(ctx context.Context, id string) error {
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		_, err := b.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if isNotFound(err) {
			return nil
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return &errs.BackendError{Backend: Name, Op: "remove container", Target: shortID(id), Err: fmt.Errorf("waiting for another removal: %w", ctx.Err())}
		}
	}
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// isImageGone: the engine (20.10) says "unrecognized image ID", not "not
// found", when another removal deleted the image while this one ran (two
// sessions whose builds came out identical share one image ID): gone is
// the outcome we wanted.
func isImageGone(err error) bool {
	return strings.Contains(err.Error(), "unrecognized image ID")
}

// isRemovalInProgress: a concurrent Close or sweep is already removing it,
// which is the outcome we wanted.
func isRemovalInProgress(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

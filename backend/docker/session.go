package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

type session struct {
	b       *Backend
	id      string
	labels  map[string]string
	netName string
	netID   string
	// firewalled: the session added its own isolation rule (firewall.go).
	firewalled bool

	mu         sync.Mutex
	containers map[string]*dockerContainer // by ID
	builds     map[string]*buildEntry      // by build key
	tags       map[string]bool             // image tags given out
	closeOnce  sync.Once
	closeErr   error
	closed     bool
}

func (s *session) ID() string { return s.id }

// containerName is unique per session and readable in `docker ps`. The tail
// of the UUIDv7 is its random part; the head is a timestamp shared by
// sessions created in the same millisecond.
func (s *session) containerName(service string) string {
	tail := s.id
	if len(tail) > 12 {
		tail = tail[len(tail)-12:]
	}
	return "cleanroom-" + tail + "-" + service
}

func (s *session) Start(ctx context.Context, spec backend.ContainerSpec) (backend.Container, error) {
	s.mu.Lock()
	closed := s.closed
	built := s.tags[spec.Image]
	s.mu.Unlock()
	if closed {
		return nil, &errs.BackendError{Backend: Name, Op: "start", Target: spec.Name, Err: errors.New("session is closed")}
	}
	if built {
		// Built by Build: it exists only on this engine, and no registry
		// has it to pull, whatever the policy.
		spec.Pull = backend.PullNever
	}
	if err := s.ensureImage(ctx, spec); err != nil {
		return nil, err
	}

	labels := copyLabels(s.labels)
	maps.Copy(labels, spec.Labels)
	labels[backend.LabelService] = spec.Name

	exposed := make([]string, len(spec.Ports))
	for i, p := range spec.Ports {
		exposed[i] = strconv.Itoa(p) + "/tcp"
	}

	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:          spec.Image,
			Name:           s.containerName(spec.Name),
			Entrypoint:     spec.Entrypoint,
			Cmd:            spec.Cmd,
			Env:            spec.Env,
			ExposedPorts:   exposed,
			Labels:         labels,
			Networks:       networksFor(spec.Policy, s.netName),
			NetworkAliases: map[string][]string{s.netName: {spec.Name}},
			ConfigModifier: func(c *container.Config) {
				// testcontainers lists a map's env in random order;
				// a container sees it sorted, the same every run.
				c.Env = envList(spec.Env)
				c.User = spec.User
				if c.User == "" {
					c.User = spec.Policy.User
				}
				c.WorkingDir = spec.WorkDir
				c.Hostname = spec.Name
				if spec.Hostname != "" {
					c.Hostname = spec.Hostname
				}
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				applyPolicy(hc, spec.Policy, spec.Tmpfs, labels)
				for _, target := range slices.Sorted(maps.Keys(spec.Binds)) {
					hc.Binds = append(hc.Binds, spec.Binds[target]+":"+target+":rw")
				}
			},
			AlwaysPullImage: spec.Pull == backend.PullAlways,
		},
		// Created, given its files, then started (see copyInto).
		Started: false,
		// testcontainers logs every step to stderr by default; cleanroom
		// reports progress itself.
		Logger: discardLogger{},
	}

	tc, err := retryTransient(ctx, func() (testcontainers.Container, error) {
		tc, err := testcontainers.GenericContainer(ctx, req)
		if err == nil {
			for _, f := range spec.Files {
				if err = copyInto(ctx, s.b.cli, tc.GetContainerID(), f); err != nil {
					err = fmt.Errorf("copy %s: %w", f.Path, err)
					break
				}
			}
		}
		if err == nil {
			err = tc.Start(ctx)
		}
		if err != nil && tc != nil {
			// Removed before a retry reuses the name.
			_ = s.b.removeContainer(context.WithoutCancel(ctx), tc.GetContainerID())
		}
		return tc, err
	})
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "start", Target: spec.Name, Err: err}
	}
	dc, ok := tc.(*testcontainers.DockerContainer)
	if !ok {
		_ = s.b.removeContainer(context.WithoutCancel(ctx), tc.GetContainerID())
		return nil, &errs.BackendError{Backend: Name, Op: "start", Target: spec.Name, Err: fmt.Errorf("unexpected container type %T", tc)}
	}
	c := &dockerContainer{b: s.b, tc: dc, id: dc.GetContainerID(), name: spec.Name, netName: s.netName}
	if err := c.loadPorts(ctx); err != nil {
		_ = s.b.removeContainer(context.WithoutCancel(ctx), c.id)
		return nil, err
	}

	s.mu.Lock()
	if s.containers == nil {
		s.containers = map[string]*dockerContainer{}
	}
	s.containers[c.id] = c
	lateClose := s.closed
	s.mu.Unlock()
	if lateClose {
		// Close ran while this container was starting; it must not outlive
		// the session.
		_ = s.b.removeContainer(context.WithoutCancel(ctx), c.id)
		return nil, &errs.BackendError{Backend: Name, Op: "start", Target: spec.Name, Err: errors.New("session closed during start")}
	}
	return c, nil
}

// ensureImage applies the pull policy "never" before testcontainers gets a
// chance to pull: an absent image is a clear error naming the fix.
func (s *session) ensureImage(ctx context.Context, spec backend.ContainerSpec) error {
	if spec.Pull != backend.PullNever {
		return nil
	}
	_, err := s.b.cli.ImageInspect(ctx, spec.Image)
	if err == nil {
		return nil
	}
	if isNotFound(err) {
		return &errs.ResourceError{Resource: "image", Target: spec.Image,
			Message: fmt.Sprintf("not present on the engine and the pull policy is \"never\" (service %s); build it locally, or map it to an image you have with [images] in cleanroom.toml or CLEANROOM_IMAGE_MAP=%q", spec.Name, spec.Image+"=<local image>")}
	}
	return &errs.BackendError{Backend: Name, Op: "inspect image", Target: spec.Image, Err: err}
}

// Close removes every container of the session, including ones created by a
// Start that failed half-way (found by label), then the network, then the
// images the session built, except those to keep. Container removal is
// parallel and forced: SIGKILL, no graceful-stop wait.
//
// The removal outlives a cancelled ctx (a test's context is already done
// when its cleanup runs, and the one Close must not be wasted on it); it is
// bounded by closeTimeout instead.
func (s *session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		s.mu.Lock()
		s.closed = true
		ids := map[string]bool{}
		for id := range s.containers {
			ids[id] = true
		}
		var building []*buildEntry
		for _, b := range s.builds {
			building = append(building, b)
		}
		s.mu.Unlock()
		// A build in progress is stopped, and waited for: its clean-up
		// (layers, the step's container) must run before this process
		// may exit.
		for _, b := range building {
			b.cancel()
		}
		for _, b := range building {
			select {
			case <-b.done:
			case <-ctx.Done():
			}
		}

		filter := client.Filters{}.Add("label", backend.LabelSession+"="+s.id)
		if list, err := s.b.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter}); err == nil {
			for _, c := range list.Items {
				ids[c.ID] = true
			}
		}

		var wg sync.WaitGroup
		errCh := make(chan error, len(ids)+2)
		for id := range ids {
			wg.Go(func() {
				if err := s.b.removeContainer(ctx, id); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		if s.firewalled {
			unisolate(s.netID)
		}
		if err := s.removeNetwork(ctx, filter); err != nil {
			errCh <- &errs.BackendError{Backend: Name, Op: "remove network", Target: s.netName, Err: err}
		}
		// Found by label, like the containers: that covers a build whose
		// caller gave up while the engine finished it.
		everyImage := func(map[string]string) bool { return true }
		if _, err := s.b.removeImages(ctx, sessionImages(s.id), everyImage); err != nil {
			errCh <- err
		}
		close(errCh)
		var all []error
		for err := range errCh {
			all = append(all, err)
		}
		s.closeErr = errors.Join(all...)
	})
	return s.closeErr
}

// closeTimeout bounds a Close whose engine does not answer.
const closeTimeout = 60 * time.Second

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// HostAddress is the gateway of the session's network: the address of the
// engine's host (this machine, with a local engine) that its containers
// reach, internal network or not.
func (s *session) HostAddress(ctx context.Context) (string, error) {
	res, err := s.b.cli.NetworkInspect(ctx, s.netID, client.NetworkInspectOptions{})
	if err != nil {
		return "", &errs.BackendError{Backend: Name, Op: "inspect network", Target: s.netName, Err: err}
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			return c.Gateway.String(), nil
		}
	}
	return "", &errs.BackendError{Backend: Name, Op: "inspect network", Target: s.netName, Err: errors.New("no IPv4 gateway")}
}

// removeNetwork removes the session's network. The engine may refuse with
// "has active endpoints" after the last container went: a Start racing
// this Close attached one, or the engine drops a removed container's
// endpoint late. Then the session's containers are removed again,
// endpoints whose container is gone are disconnected by force, and the
// removal retried, for a few seconds. An engine whose own bookkeeping
// keeps an endpoint that no container has (moby/moby#42119, seen once in
// CI on 20.10 after concurrent starts) refuses until it restarts: the
// error says so.
func (s *session) removeNetwork(ctx context.Context, filter client.Filters) error {
	err := s.retryNetworkRemove(ctx, filter)
	if err != nil && strings.Contains(err.Error(), "active endpoints") {
		if n, ierr := s.b.cli.NetworkInspect(ctx, s.netID, client.NetworkInspectOptions{}); ierr == nil && len(n.Network.Containers) == 0 {
			return fmt.Errorf("%w: no container is attached, so the engine's record of one is stale (moby/moby#42119); the network can go once the engine restarts, and the next sweep (cleanroom gc) removes it then", err)
		}
	}
	return err
}

func (s *session) retryNetworkRemove(ctx context.Context, filter client.Filters) error {
	for attempt := 0; ; attempt++ {
		_, err := s.b.cli.NetworkRemove(ctx, s.netID, client.NetworkRemoveOptions{})
		if err == nil || isNotFound(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "active endpoints") || attempt == 20 || ctx.Err() != nil {
			return err
		}
		if list, lerr := s.b.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter}); lerr == nil {
			for _, c := range list.Items {
				_ = s.b.removeContainer(ctx, c.ID)
			}
		}
		if n, ierr := s.b.cli.NetworkInspect(ctx, s.netID, client.NetworkInspectOptions{}); ierr == nil {
			for id := range n.Network.Containers {
				_, _ = s.b.cli.NetworkDisconnect(ctx, s.netID, client.NetworkDisconnectOptions{Container: id, Force: true})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

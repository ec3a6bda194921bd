package cleanroom_test

import (
	"context"
	"slices"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/generic"
)

// The helpers below look at the engine directly, with a client of their own:
// what a test asserts about cleanup must not depend on the code under test
// (nor on a client that Env.Close has already closed).

// newEnv creates an environment on the real engine, closed when t ends.
func newEnv(t testing.TB, opts ...cleanroom.Option) *cleanroom.Env {
	t.Helper()
	env, err := cleanroom.New(t.Context(), opts...)
	if err != nil {
		t.Fatalf("cleanroom.New: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return env
}

// engine is an independent engine client, closed when t ends.
func engine(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("engine client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// sessionResources lists the containers (running or not) and networks that
// carry the session's label.
func sessionResources(t testing.TB, cli *client.Client, session string) (containers, networks []string) {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", backend.LabelSession+"="+session)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range cs.Items {
		containers = append(containers, c.Labels[backend.LabelService]+"="+c.ID[:12])
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range ns.Items {
		networks = append(networks, n.Name)
	}
	return containers, networks
}

// assertSessionGone fails unless the engine holds nothing of the session.
func assertSessionGone(t testing.TB, cli *client.Client, session string) {
	t.Helper()
	cs, ns := sessionResources(t, cli, session)
	if len(cs) > 0 || len(ns) > 0 {
		t.Errorf("session %s: want no containers and no networks left, got containers %v and networks %v", session, cs, ns)
	}
	f := client.Filters{}.Add("label", backend.LabelSession+"="+session)
	vs, err := cli.VolumeList(context.Background(), client.VolumeListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list volumes: %v", err)
	}
	if len(vs.Items) > 0 {
		t.Errorf("session %s: want no volumes left, got %d", session, len(vs.Items))
	}
}

// inspect returns the engine's view of a container; ok is false when the
// engine does not know it (removed).
func inspect(t testing.TB, cli *client.Client, id string) (container.InspectResponse, bool) {
	t.Helper()
	res, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return container.InspectResponse{}, false
	}
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return res.Container, true
}

// startedAt is when the engine started the container's process.
func startedAt(t testing.TB, cli *client.Client, id string) time.Time {
	t.Helper()
	c, ok := inspect(t, cli, id)
	if !ok || c.State == nil {
		t.Fatalf("container %s: not found on the engine", id)
	}
	ts, err := time.Parse(time.RFC3339Nano, c.State.StartedAt)
	if err != nil {
		t.Fatalf("container %s: StartedAt %q: %v", id, c.State.StartedAt, err)
	}
	return ts
}

// sleeper is a busybox service that runs and does nothing.
func sleeper(name string, opts ...generic.Option) service.Spec {
	return generic.Spec(name, "busybox:latest", append([]generic.Option{generic.WithCommand("sleep", "3600")}, opts...)...)
}

// webServer is a busybox HTTP server on port 8080 that starts listening
// after delay seconds and answers "hello from NAME".
func webServer(name, delay string, opts ...generic.Option) service.Spec {
	script := "mkdir -p /www && echo hello from " + name + " > /www/index.html && sleep " + delay + " && exec httpd -f -p 8080 -h /www"
	return generic.Spec(name, "busybox:latest", append([]generic.Option{
		generic.WithCommand("sh", "-c", script),
		generic.WithPorts(8080),
		generic.WithReady(ready.Port(8080, ready.WithTimeout(20*time.Second))),
	}, opts...)...)
}

// serviceContainers lists the IDs of the session's containers of one service.
func serviceContainers(t testing.TB, cli *client.Client, session, name string) []string {
	t.Helper()
	f := client.Filters{}.Add("label", backend.LabelSession+"="+session).Add("label", backend.LabelService+"="+name)
	cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	var ids []string
	for _, c := range cs.Items {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

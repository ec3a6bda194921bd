package docker_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/backendtest"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// fixtureImage is built locally by scripts/fixture-images.sh; the tests never
// pull.
const fixtureImage = "cleanroom-fixtures/busybox:1"

// connect returns a backend on the local engine, or skips the test when no
// engine answers (scripts/docker-up.sh starts one). The caller closes it.
func connect(t *testing.T) *docker.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := docker.New(ctx)
	if err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	if _, err := b.Client().ImageInspect(ctx, fixtureImage); err != nil {
		_ = b.Close()
		t.Skipf("fixture image %s missing (build it with scripts/fixture-images.sh): %v", fixtureImage, err)
	}
	return b
}

// sessionFilter selects what the engine holds for one session.
func sessionFilter(id string) client.Filters {
	return client.Filters{}.Add("label", backend.LabelSession+"="+id)
}

// held lists the containers and networks labelled with a session.
func held(ctx context.Context, cli *client.Client, id string) (backendtest.Resources, error) {
	var r backendtest.Resources
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: sessionFilter(id)})
	if err != nil {
		return r, err
	}
	for _, c := range cs.Items {
		r.Containers = append(r.Containers, c.ID)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: sessionFilter(id)})
	if err != nil {
		return r, err
	}
	for _, n := range ns.Items {
		r.Networks = append(r.Networks, n.ID)
	}
	return r, nil
}

func TestConformance(t *testing.T) {
	// This backend only inspects the engine; the suite makes its own.
	inspector := connect(t)
	t.Cleanup(func() { _ = inspector.Close() })
	cli := inspector.Client()

	var mu sync.Mutex
	var sessions []string
	// Registered before Run, so it runs after every test of the suite and
	// their own cleanups: whatever is labelled with one of the suite's
	// sessions now is a leak.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		mu.Lock()
		defer mu.Unlock()
		if len(sessions) == 0 {
			t.Errorf("the suite reported no sessions; the leak check below would be empty")
		}
		for _, id := range sessions {
			r, err := held(ctx, cli, id)
			if err != nil {
				t.Errorf("listing what session %s left: %v", id, err)
				continue
			}
			if len(r.Containers)+len(r.Networks) > 0 {
				t.Errorf("after the suite, session %s: got containers %v and networks %v labelled %s=%s, want none",
					id, r.Containers, r.Networks, backend.LabelSession, id)
			}
		}
	})

	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T) backend.Backend {
			// The suite closes it.
			return connect(t)
		},
		Image: fixtureImage,
		Pull:  backend.PullNever,
		Resources: func(ctx context.Context, id string) (backendtest.Resources, error) {
			return held(ctx, cli, id)
		},
		Created: func(id string) {
			mu.Lock()
			sessions = append(sessions, id)
			mu.Unlock()
		},
	})
}

// TestLabelsAndNetwork checks what the Docker backend promises beyond the
// contract: labels a sweep (or a person with `docker ps`) can select by, and
// one user-defined network per session on which services resolve by name.
func TestLabelsAndNetwork(t *testing.T) {
	ctx := t.Context()
	b := connect(t)
	t.Cleanup(func() { _ = b.Close() })
	cli := b.Client()

	id := uuid.Must(uuid.NewV7()).String()
	labels := map[string]string{
		backend.LabelSession: id,
		backend.LabelOwner:   owner.Self().String(),
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}
	sess, err := b.NewSession(ctx, backend.SessionSpec{ID: id, Labels: labels})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if closed {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sess.Close(ctx); err != nil {
			t.Errorf("Close in cleanup: %v", err)
		}
	})

	env := map[string]string{}
	for _, k := range []string{"ZULU", "ALPHA", "MIKE", "BRAVO", "YANKEE", "CHARLIE", "XRAY", "DELTA"} {
		env[k] = "1"
	}
	c, err := sess.Start(ctx, backend.ContainerSpec{
		Name:   "web",
		Image:  fixtureImage,
		Pull:   backend.PullNever,
		Cmd:    []string{"sleep", "86400"},
		Env:    env,
		Labels: map[string]string{"com.example.purpose": "labels-test"},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}

	// The process sees its environment in sorted order, the same on every
	// run (testcontainers would list a map in random order).
	res, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"sh", "-c", "tr '\\0' '\\n' < /proc/1/environ | cut -d= -f1"}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range strings.Fields(string(res.Stdout)) {
		if env[k] != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) != len(env) || !slices.IsSorted(keys) {
		t.Errorf("environment order of the container's process: %v, want the %d keys sorted", keys, len(env))
	}

	ci, err := cli.ContainerInspect(ctx, c.ID(), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect container: %v", err)
	}
	wantLabels := map[string]string{
		backend.LabelSession:  id,
		backend.LabelOwner:    labels[backend.LabelOwner],
		backend.LabelCreated:  labels[backend.LabelCreated],
		backend.LabelService:  "web",
		"com.example.purpose": "labels-test",
	}
	for k, want := range wantLabels {
		if got, ok := ci.Container.Config.Labels[k]; !ok || got != want {
			t.Errorf("container label %s: got %q (present %v), want %q", k, got, ok, want)
		}
	}

	netName := "cleanroom-" + id
	ni, err := cli.NetworkInspect(ctx, netName, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatalf("inspect network %s: got %v, want the session's network", netName, err)
	}
	if ni.Network.Name != netName {
		t.Errorf("network name: got %q, want %q", ni.Network.Name, netName)
	}
	if ni.Network.Driver != "bridge" {
		t.Errorf("network driver: got %q, want %q (a user-defined bridge, whose DNS resolves service names)", ni.Network.Driver, "bridge")
	}
	for _, k := range []string{backend.LabelSession, backend.LabelOwner, backend.LabelCreated} {
		if got := ni.Network.Labels[k]; got != labels[k] {
			t.Errorf("network label %s: got %q, want %q", k, got, labels[k])
		}
	}
	ep, ok := ci.Container.NetworkSettings.Networks[netName]
	if !ok {
		t.Fatalf("container networks: got %v, want %s", slices.Collect(maps.Keys(ci.Container.NetworkSettings.Networks)), netName)
	}
	if !slices.Contains(ep.Aliases, "web") && !slices.Contains(ep.DNSNames, "web") {
		t.Errorf("container's names on %s: got aliases %v and DNS names %v, want %q", netName, ep.Aliases, ep.DNSNames, "web")
	}
	if n := len(ci.Container.NetworkSettings.Networks); n != 1 {
		t.Errorf("container attached to %d networks, want only the session's", n)
	}

	if err := sess.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	r, err := held(ctx, cli, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Containers)+len(r.Networks) > 0 {
		t.Errorf("after Close: got containers %v and networks %v, want none", r.Containers, r.Networks)
	}
	if _, err := cli.NetworkInspect(ctx, netName, client.NetworkInspectOptions{}); err == nil {
		t.Errorf("network %s after Close: still exists, want it removed", netName)
	}
}

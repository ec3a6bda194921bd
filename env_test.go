package cleanroom_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/internal/owner"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service/generic"
)

// timedCheck records when the Env began and finished waiting for a service.
type timedCheck struct {
	ready.Check
	mu         sync.Mutex
	begin, end time.Time
}

func (c *timedCheck) Wait(ctx context.Context, ct backend.Container) error {
	c.mu.Lock()
	c.begin = time.Now()
	c.mu.Unlock()
	err := c.Check.Wait(ctx, ct)
	c.mu.Lock()
	c.end = time.Now()
	c.mu.Unlock()
	return err
}

func (c *timedCheck) readyAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

// dockerOf is the engine client behind an environment, reached the way a
// user would: through Env.Backend.
func dockerOf(t *testing.T, env *cleanroom.Env) *docker.Backend {
	t.Helper()
	d, ok := env.Backend().(*docker.Backend)
	if !ok {
		t.Fatalf("Env.Backend: want *docker.Backend, got %T", env.Backend())
	}
	return d
}

// C depends on A and B. A and B take two seconds to listen; they must start
// together, and C only once both are ready.
func TestStartOrdersDependenciesAndRunsIndependentOnesInParallel(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cli := dockerOf(t, env).Client()

	checkA := &timedCheck{Check: ready.Port(8080, ready.WithTimeout(20*time.Second))}
	checkB := &timedCheck{Check: ready.Port(8080, ready.WithTimeout(20*time.Second))}
	a := webServer("a", "2", generic.WithReady(checkA))
	b := webServer("b", "2", generic.WithReady(checkB))
	c := sleeper("c", generic.WithDependsOn("a", "b"))

	// Given dependents first: the order of the arguments is not the order
	// of the start.
	insts, err := env.Start(t.Context(), c, a, b)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for i, want := range []string{"c", "a", "b"} {
		if got := insts[i].Spec.Name; got != want {
			t.Errorf("Start result %d: want service %s (results come in the order asked), got %s", i, want, got)
		}
	}
	startA := startedAt(t, cli, insts[1].Container.ID())
	startB := startedAt(t, cli, insts[2].Container.ID())
	startC := startedAt(t, cli, insts[0].Container.ID())
	readyA, readyB := checkA.readyAt(), checkB.readyAt()
	t.Logf("a: started %s ready %s", startA.Format(time.StampMicro), readyA.Format(time.StampMicro))
	t.Logf("b: started %s ready %s", startB.Format(time.StampMicro), readyB.Format(time.StampMicro))
	t.Logf("c: started %s", startC.Format(time.StampMicro))

	if !startC.After(readyA) || !startC.After(readyB) {
		t.Errorf("c started at %s; want after a was ready (%s) and after b was ready (%s)",
			startC.Format(time.StampMicro), readyA.Format(time.StampMicro), readyB.Format(time.StampMicro))
	}
	// Sequential starts would put one service's start after the other's
	// readiness; parallel ones overlap.
	if !startA.Before(readyB) || !startB.Before(readyA) {
		t.Errorf("a [%s, %s] and b [%s, %s]: want overlapping start windows (independent services start in parallel)",
			startA.Format(time.StampMicro), readyA.Format(time.StampMicro), startB.Format(time.StampMicro), readyB.Format(time.StampMicro))
	}

	// Services reach each other by name on the session network.
	res, err := insts[0].Container.Exec(t.Context(), backend.ExecSpec{Cmd: []string{"sh", "-c", `printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc a 8080 | tail -n 1`}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("exec in c: %v", err)
	}
	if got, want := strings.TrimSpace(string(res.Stdout)), "hello from a"; got != want {
		t.Errorf("c fetching http://a:8080/: want %q, got %q (stderr %q)", want, got, res.Stderr)
	}
	// The runner reaches the primary port at URL.
	resp, err := http.Get(insts[2].URL + "/index.html")
	if err != nil {
		t.Fatalf("GET %s: %v", insts[2].URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := strings.TrimSpace(string(body)), "hello from b"; got != want {
		t.Errorf("GET %s/index.html: want %q, got %q", insts[2].URL, want, got)
	}
	if got, want := insts[1].Address, "a:8080"; got != want {
		t.Errorf("a.Address: want %q, got %q", want, got)
	}
}

// A service that never becomes ready fails with its reason and the end of
// its output; what depends on it, directly or not, is never started.
func TestFailedDependencyFailsItsDependents(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cli := engine(t)

	bad := generic.Spec("bad", "busybox:latest",
		generic.WithCommand("sh", "-c", "echo first-line-of-bad; echo bad-says-why >&2; exec sleep 3600"),
		generic.WithPorts(8080),
		generic.WithReady(ready.Port(8080, ready.WithTimeout(1500*time.Millisecond))))
	dep := sleeper("dep", generic.WithDependsOn("bad"))
	top := sleeper("top", generic.WithDependsOn("dep"))

	_, err := env.Start(t.Context(), top, dep, bad)
	if err == nil {
		t.Fatal("Start: want an error for a service that never listens, got none")
	}
	t.Logf("Start error:\n%v", err)
	var te *cleanroom.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("Start: want a *TimeoutError in %v", err)
	}
	if te.Err == nil || !strings.Contains(te.Err.Error(), "nothing listens on port 8080") {
		t.Errorf("TimeoutError.Err: want the last reason (nothing listens on port 8080), got %v", te.Err)
	}
	for _, want := range []string{
		"service bad (cleanroom-fixtures/busybox:1) not ready",
		"first-line-of-bad", // the log tail, stdout
		"bad-says-why",      // and stderr
		"service dep: not started because its dependency bad failed",
		"service top: not started because its dependency dep failed",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error: want it to contain %q, got:\n%v", want, err)
		}
	}
	for _, name := range []string{"dep", "top"} {
		if ids := serviceContainers(t, cli, env.ID(), name); len(ids) != 0 {
			t.Errorf("service %s: want no container (its dependency failed), got %v", name, ids)
		}
	}
	if ids := serviceContainers(t, cli, env.ID(), "bad"); len(ids) != 0 {
		t.Errorf("service bad: want its failed container removed, got %v", ids)
	}
	if _, ok := env.Service("bad"); ok {
		t.Error("Env.Service(bad): want no instance for a failed start, got one")
	}

	// A failed start is forgotten: the same name may be started again.
	insts, err := env.Start(t.Context(), webServer("bad", "0"), dep)
	if err != nil {
		t.Fatalf("Start again after fixing bad: %v", err)
	}
	if got, ok := env.Service("dep"); !ok || got.Container.ID() != insts[1].Container.ID() {
		t.Errorf("Env.Service(dep): want the started instance %s, got %v (found %v)", insts[1].Container.ID(), got, ok)
	}
}

// Starting the same spec twice gives the same container; each Start is a
// reference and only the last Release removes the container.
func TestSingletonAndRelease(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cli := engine(t)
	ctx := t.Context()
	spec := sleeper("single")

	first, err := env.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	second, err := env.Start(ctx, spec)
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	id := first[0].Container.ID()
	if got := second[0].Container.ID(); got != id {
		t.Errorf("second Start of the same spec: want container %s, got %s", id, got)
	}
	if ids := serviceContainers(t, cli, env.ID(), "single"); len(ids) != 1 {
		t.Errorf("engine: want one container of service single, got %v", ids)
	}

	// The same name with other settings is refused while the first runs.
	_, err = env.Start(ctx, sleeper("single", generic.WithEnv(map[string]string{"X": "1"})))
	var ve *cleanroom.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "already runs in this environment with different settings") {
		t.Errorf("Start of a different spec named single: want a *ValidationError about different settings, got %T: %v", err, err)
	}

	if err := env.Release(ctx, "single"); err != nil {
		t.Fatalf("first Release: %v", err)
	}
	if c, ok := inspect(t, cli, id); !ok || !c.State.Running {
		t.Fatalf("after one of two Releases: want container %s still running, got found=%v", id, ok)
	}
	if err := env.Release(ctx, "single"); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, ok := inspect(t, cli, id); ok {
		t.Errorf("after the last Release: want container %s removed from the engine, it is still there", id)
	}
	if _, ok := env.Service("single"); ok {
		t.Error("Env.Service(single) after the last Release: want not found, got an instance")
	}
	if err := env.Release(ctx, "single"); err != nil {
		t.Errorf("Release of a service no longer held: want nil, got %v", err)
	}
}

// Concurrent Starts of one spec wait for the one start.
func TestConcurrentStartsShareOneContainer(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cli := engine(t)
	spec := webServer("shared", "0.3")
	const n = 5
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			insts, err := env.Start(t.Context(), spec)
			errs[i] = err
			if err == nil {
				ids[i] = insts[0].Container.ID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("Start %d: want container %s like the others, got %s", i, ids[0], ids[i])
		}
	}
	if got := serviceContainers(t, cli, env.ID(), "shared"); len(got) != 1 {
		t.Errorf("engine: want one container of service shared, got %v", got)
	}
	for i := range n {
		if err := env.Release(t.Context(), "shared"); err != nil {
			t.Fatalf("Release %d: %v", i, err)
		}
		_, ok := inspect(t, cli, ids[0])
		if want := i < n-1; ok != want {
			t.Errorf("after Release %d of %d: want container present=%v, got %v", i+1, n, want, ok)
		}
	}
}

// Close removes every container and the network, once, whoever calls it.
func TestCloseRemovesEverythingOnceForAllCallers(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	env, err := cleanroom.New(t.Context())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	if _, err := env.Start(t.Context(), sleeper("one"), webServer("two", "0"), sleeper("three", generic.WithDependsOn("two"))); err != nil {
		t.Fatalf("Start: %v", err)
	}
	cs, ns := sessionResources(t, cli, env.ID())
	if len(cs) != 3 || len(ns) != 1 {
		t.Fatalf("before Close: want 3 containers and 1 network of the session, got %v and %v", cs, ns)
	}

	const callers = 8
	results := make([]error, callers)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range callers {
		wg.Go(func() { results[i] = env.Close(context.Background()) })
	}
	wg.Wait()
	t.Logf("Close of 3 running services, %d concurrent callers: %s", callers, time.Since(begin).Round(time.Millisecond))
	for i, err := range results {
		if err != nil {
			t.Errorf("Close caller %d: want nil, got %v", i, err)
		}
	}
	assertSessionGone(t, cli, env.ID())
	if err := env.Close(context.Background()); err != nil {
		t.Errorf("Close again: want nil (idempotent), got %v", err)
	}
	if _, err := env.Start(t.Context(), sleeper("late")); err == nil {
		t.Error("Start after Close: want an error, got none")
	}
	assertSessionGone(t, cli, env.ID())
}

// Everything a session creates carries the labels a sweep relies on.
func TestLabels(t *testing.T) {
	t.Parallel()
	before := time.Now().Add(-time.Second)
	env := newEnv(t)
	after := time.Now().Add(time.Second)
	cli := engine(t)

	id, err := uuid.Parse(env.ID())
	if err != nil {
		t.Fatalf("env.ID() %q: not a UUID: %v", env.ID(), err)
	}
	if v := id.Version(); v != 7 || env.ID()[14] != '7' {
		t.Errorf("env.ID() %q: want a UUIDv7 (version nibble 7), got version %d", env.ID(), v)
	}
	if id.Variant() != uuid.RFC4122 {
		t.Errorf("env.ID() %q: want the RFC 4122 variant, got %v", env.ID(), id.Variant())
	}

	insts, err := env.Start(t.Context(), sleeper("labelled"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c, ok := inspect(t, cli, insts[0].Container.ID())
	if !ok {
		t.Fatal("container not found on the engine")
	}
	nets, err := cli.NetworkList(t.Context(), client.NetworkListOptions{Filters: client.Filters{}.Add("label", backend.LabelSession+"="+env.ID())})
	if err != nil || len(nets.Items) != 1 {
		t.Fatalf("networks of session %s: want 1, got %d (err %v)", env.ID(), len(nets.Items), err)
	}
	self := owner.Self().String()
	for what, labels := range map[string]map[string]string{
		"container": c.Config.Labels,
		"network":   nets.Items[0].Labels,
	} {
		if got := labels[backend.LabelSession]; got != env.ID() {
			t.Errorf("%s label %s: want %q, got %q", what, backend.LabelSession, env.ID(), got)
		}
		if got := labels[backend.LabelOwner]; got != self {
			t.Errorf("%s label %s: want %q, got %q", what, backend.LabelOwner, self, got)
		}
		if o, err := owner.Parse(labels[backend.LabelOwner]); err != nil || o.PID != os.Getpid() {
			t.Errorf("%s label %s: want this process (pid %d), got %+v (err %v)", what, backend.LabelOwner, os.Getpid(), o, err)
		}
		created, err := time.Parse(time.RFC3339, labels[backend.LabelCreated])
		if err != nil {
			t.Errorf("%s label %s: want RFC 3339, got %q: %v", what, backend.LabelCreated, labels[backend.LabelCreated], err)
		} else if created.Before(before.Truncate(time.Second)) || created.After(after) {
			t.Errorf("%s label %s: want a time between %s and %s, got %s", what, backend.LabelCreated, before.Format(time.RFC3339), after.Format(time.RFC3339), created)
		}
	}
	if got := c.Config.Labels[backend.LabelService]; got != "labelled" {
		t.Errorf("container label %s: want %q, got %q", backend.LabelService, "labelled", got)
	}
}

// Instances carry the endpoints of their kind.
func TestInstanceEndpoints(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	spec := webServer("site", "0")
	spec.Scheme = func(addr string) string { return "custom://" + addr }
	insts, err := env.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	in := insts[0]
	host, port, err := in.Container.Endpoint(t.Context(), 8080)
	if err != nil {
		t.Fatalf("Endpoint: %v", err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"Host", in.Host, host},
		{"Port", fmt.Sprint(in.Port), fmt.Sprint(port)},
		{"Address", in.Address, "site:8080"},
		{"InternalURL", in.InternalURL, "custom://site:8080"},
		{"URL", in.URL, fmt.Sprintf("custom://%s:%d", host, port)},
	} {
		if c.got != c.want {
			t.Errorf("instance %s: want %q, got %q", c.what, c.want, c.got)
		}
	}
	if got, ok := env.Service("site"); !ok || got != in {
		t.Errorf("Env.Service(site): want the started instance, got %v (found %v)", got, ok)
	}
	if _, ok := env.Service("nobody"); ok {
		t.Error("Env.Service(nobody): want not found, got an instance")
	}
}

// The last Release removes the container in the background of a new Start
// of the same name, which must wait for the name to be free rather than
// collide with the old container (the shared Go-test environment does this
// whenever a service lingers out just as a test asks for it again).
func TestStartRightAfterLastRelease(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	cli := engine(t)
	spec := sleeper("again")
	var previous string
	// Round 0 lets the Release start first; round 1 races it.
	for round := range 2 {
		insts, err := env.Start(t.Context(), spec)
		if err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		id := insts[0].Container.ID()
		if id == previous {
			t.Fatalf("round %d: want a new container after the last Release, got the old one %s", round, id)
		}
		previous = id
		released := make(chan error, 1)
		go func() { released <- env.Release(context.Background(), "again") }()
		// Let the Release take the last reference and begin removing.
		time.Sleep(time.Duration(1-round) * 5 * time.Millisecond)
		again, err := env.Start(t.Context(), spec)
		if rerr := <-released; rerr != nil {
			t.Fatalf("round %d: Release: %v", round, rerr)
		}
		if err != nil {
			t.Fatalf("round %d: Start right after the last Release: %v", round, err)
		}
		if c, ok := inspect(t, cli, again[0].Container.ID()); !ok || !c.State.Running {
			t.Fatalf("round %d: the restarted container %s: want running, got found=%v", round, again[0].Container.ID(), ok)
		}
		if err := env.Release(t.Context(), "again"); err != nil {
			t.Fatalf("round %d: Release: %v", round, err)
		}
		previous = again[0].Container.ID()
	}
	if ids := serviceContainers(t, cli, env.ID(), "again"); len(ids) != 0 {
		t.Errorf("after the last Release: want no container of again, got %v", ids)
	}
}

// Close while the last Release is still removing a container: the network
// goes only once the container is gone, and Close reports no error.
func TestCloseDuringRelease(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	env, err := cleanroom.New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	if _, err := env.Start(t.Context(), sleeper("leaving"), sleeper("staying")); err != nil {
		t.Fatalf("Start: %v", err)
	}
	released := make(chan error, 1)
	go func() { released <- env.Release(context.Background(), "leaving") }()
	time.Sleep(time.Millisecond)
	if err := env.Close(t.Context()); err != nil {
		t.Errorf("Close during a Release: want nil, got %v", err)
	}
	if err := <-released; err != nil {
		t.Errorf("Release: want nil, got %v", err)
	}
	assertSessionGone(t, cli, env.ID())
}

package cleanroom

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
)

// The helpers below serve `go test`. They share one environment per test
// binary, started on first use: services are singletons keyed by their spec,
// so every test of the package that asks for the same PostgreSQL gets the
// same server, and only its own clean database.
//
// A test binary that calls RunTests from TestMain removes the environment
// when the tests finish. Without it, the environment is removed after the
// services sit unused for Linger, and whatever a crashed or killed binary
// left is swept by the next New of any cleanroom process on the machine.

// Linger is how long the shared environment keeps unused services before it
// removes them; tests that run one after another reuse them within it.
var Linger = 5 * time.Second

// DB is a clean PostgreSQL database for one test.
type DB struct {
	// DSN connects to the test's own database.
	DSN string
	// Name is the database's name.
	Name string
	// Service is the server it lives on.
	Service *service.Instance
}

// KV is a clean Redis logical database for one test.
type KV struct {
	// URL is redis://host:port/db for the test's own logical database.
	URL string
	// Addr is host:port of the server; DB is the logical database number.
	Addr string
	DB   int
	// Service is the server.
	Service *service.Instance
}

// Postgres returns a clean database for t, cloned from a template taken
// right after the service's init SQL: every test sees exactly the schema and
// rows of the init SQL and nothing another test wrote. The database is
// dropped in the background once t ends. Options are those of the postgres package; tests that
// pass the same options share one server.
func Postgres(t testing.TB, opts ...postgres.Option) *DB {
	t.Helper()
	ctx := testContext(t)
	spec := sharedName(postgres.Spec("postgres", opts...))
	sh, err := sharedEnv(ctx)
	if err != nil {
		t.Fatalf("cleanroom: %v", err)
	}
	res, err := sh.acquire(ctx, spec, func(ctx context.Context, inst *service.Instance) (closer, error) {
		template := spec.Env["POSTGRES_DB"]
		return postgres.NewCloner(ctx, postgres.WithDatabaseName(inst.URL, "postgres"), template, postgres.WithDialer(inst.DialContext))
	})
	if err != nil {
		t.Fatalf("cleanroom: %v", err)
	}
	t.Cleanup(func() { sh.release(spec) })
	cl := res.helper.(*postgres.Cloner)
	name, err := cl.Acquire(ctx)
	if err != nil {
		t.Fatalf("cleanroom: clean database: %v", err)
	}
	// Dropped in the background: the next test need not wait for it.
	t.Cleanup(func() { cl.Release(name) })
	return &DB{DSN: postgres.WithDatabaseName(res.inst.URL, name), Name: name, Service: res.inst}
}

// Redis returns an empty logical database of a shared Redis server for t,
// flushed when t ends.
func Redis(t testing.TB, opts ...redis.Option) *KV {
	t.Helper()
	ctx := testContext(t)
	spec := sharedName(redis.Spec("redis", opts...))
	sh, err := sharedEnv(ctx)
	if err != nil {
		t.Fatalf("cleanroom: %v", err)
	}
	res, err := sh.acquire(ctx, spec, func(_ context.Context, inst *service.Instance) (closer, error) {
		return redisDBs{redis.NewDBs(fmt.Sprintf("%s:%d", inst.Host, inst.Port), inst.DialContext)}, nil
	})
	if err != nil {
		t.Fatalf("cleanroom: %v", err)
	}
	t.Cleanup(func() { sh.release(spec) })
	dbs := res.helper.(redisDBs)
	db, err := dbs.Acquire(ctx)
	if err != nil {
		t.Fatalf("cleanroom: %v", err)
	}
	t.Cleanup(func() {
		if err := dbs.Release(context.Background(), db); err != nil {
			t.Logf("cleanroom: flush redis db %d: %v", db, err)
		}
	})
	addr := fmt.Sprintf("%s:%d", res.inst.Host, res.inst.Port)
	return &KV{URL: redis.URL(addr, db), Addr: addr, DB: db, Service: res.inst}
}

// Service starts (or reuses) any service for t in the shared environment.
// The service is shared by every test that asks for the same spec; it keeps
// its state between tests.
func Service(t testing.TB, spec service.Spec) *service.Instance {
	t.Helper()
	ctx := testContext(t)
	sh, err := sharedEnv(ctx)
	if err != nil {
		t.Fatalf("cleanroom: %v", err)
	}
	res, err := sh.acquire(ctx, spec, nil)
	if err != nil {
		t.Fatalf("cleanroom: %v", err)
	}
	t.Cleanup(func() { sh.release(spec) })
	return res.inst
}

// RunTests runs the tests of a package and then removes the shared
// environment, so nothing outlives the test binary. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(cleanroom.RunTests(m)) }
func RunTests(m *testing.M) int {
	code := m.Run()
	if err := CloseShared(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "cleanroom: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// CloseShared removes the environment shared by Postgres, Redis and
// Service. A later call to one of them starts a new one.
func CloseShared(ctx context.Context) error {
	sharedMu.Lock()
	sh := shared
	shared = nil
	sharedMu.Unlock()
	if sh == nil {
		return nil
	}
	return sh.close(ctx)
}

// sharedName gives each distinct spec of a kind its own service name, so
// tests asking for differently configured servers get one each.
func sharedName(spec service.Spec) service.Spec {
	spec.Name += "-" + spec.Key()[:8]
	return spec
}

func testContext(t testing.TB) context.Context {
	if tt, ok := t.(interface{ Context() context.Context }); ok {
		return tt.Context()
	}
	return context.Background()
}

// The shared environment is package state by necessity: the Go testing
// package has no per-binary fixture other than TestMain, and tests that
// share a server must find it somewhere.
var (
	sharedMu sync.Mutex
	shared   *sharedEnvironment
)

type closer interface{ Close(context.Context) error }

type redisDBs struct{ *redis.DBs }

func (r redisDBs) Close(context.Context) error { return r.DBs.Close() }

type sharedService struct {
	// env is where the service runs: the shared environment, or on the
	// local backend an environment of its own (its services share one
	// loopback, so two servers on one port cannot share an environment).
	env    *Env
	inst   *service.Instance
	helper closer // per-kind state: the clone pool, the logical databases
	refs   int
	idle   *time.Timer
	ready  chan struct{}
	err    error
}

type sharedEnvironment struct {
	env *Env

	mu       sync.Mutex
	services map[string]*sharedService // by spec key
}

func sharedEnv(ctx context.Context) (*sharedEnvironment, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		return shared, nil
	}
	// The environment outlives the test that happened to create it.
	env, err := New(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	shared = &sharedEnvironment{env: env, services: map[string]*sharedService{}}
	return shared, nil
}

// acquire returns the running service for spec, starting it (and its helper)
// on first use. Concurrent tests asking for the same spec wait for the one
// start.
func (s *sharedEnvironment) acquire(ctx context.Context, spec service.Spec, helper func(context.Context, *service.Instance) (closer, error)) (*sharedService, error) {
	key := spec.Key()
	s.mu.Lock()
	ss, ok := s.services[key]
	if ok {
		ss.refs++
		if ss.idle != nil {
			ss.idle.Stop()
			ss.idle = nil
		}
		s.mu.Unlock()
		select {
		case <-ss.ready:
		case <-ctx.Done():
			s.release(spec)
			return nil, ctx.Err()
		}
		if ss.err != nil {
			s.release(spec)
			return nil, ss.err
		}
		return ss, nil
	}
	ss = &sharedService{env: s.env, refs: 1, ready: make(chan struct{})}
	s.services[key] = ss
	s.mu.Unlock()

	// The start must not be cut short when the first test that asked ends.
	bg := context.WithoutCancel(ctx)
	var err error
	if !backend.RunsImages(s.env.Backend()) {
		ss.env, err = New(bg, WithBackend(s.env.Backend()), WithoutSweep())
		if err != nil {
			s.mu.Lock()
			delete(s.services, key)
			s.mu.Unlock()
			ss.err = err
			close(ss.ready)
			return nil, err
		}
	}
	insts, err := ss.env.Start(bg, spec)
	if err == nil {
		ss.inst = insts[0]
		if helper != nil {
			ss.helper, err = helper(bg, ss.inst)
		}
	}
	ss.err = err
	close(ss.ready)
	if err != nil {
		s.mu.Lock()
		delete(s.services, key)
		s.mu.Unlock()
		ss.dispose(bg, spec.Name, s.env)
		return nil, err
	}
	return ss, nil
}

// release drops a reference; a service unused for Linger is removed.
func (s *sharedEnvironment) release(spec service.Spec) {
	key := spec.Key()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.services[key]
	if !ok {
		return
	}
	ss.refs--
	if ss.refs > 0 {
		return
	}
	ss.idle = time.AfterFunc(Linger, func() {
		s.mu.Lock()
		if s.services[key] != ss || ss.refs > 0 {
			s.mu.Unlock()
			return
		}
		delete(s.services, key)
		s.mu.Unlock()
		ss.dispose(context.Background(), spec.Name, s.env)
	})
}

// dispose closes the service's helper and removes it: its own environment
// goes with it, the shared one stays.
func (ss *sharedService) dispose(ctx context.Context, name string, shared *Env) {
	if ss.helper != nil {
		_ = ss.helper.Close(ctx)
	}
	switch {
	case ss.env != nil && ss.env != shared:
		_ = ss.env.Close(ctx)
	case ss.inst != nil && name != "":
		_ = shared.Release(ctx, name)
	}
}

func (s *sharedEnvironment) close(ctx context.Context) error {
	s.mu.Lock()
	services := s.services
	s.services = map[string]*sharedService{}
	s.mu.Unlock()
	for _, ss := range services {
		if ss.idle != nil {
			ss.idle.Stop()
		}
		ss.dispose(ctx, "", s.env) // "": the shared environment closes below
	}
	return s.env.Close(ctx)
}

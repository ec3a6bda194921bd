package redis_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/service/redis"
)

// One environment and one server for the package's engine tests.
var (
	env   *cleanroom.Env
	cache *service.Instance
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	env, err = cleanroom.New(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if insts, err := env.Start(ctx, redis.Spec("cache")); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		cache = insts[0]
		code = m.Run()
	}
	if err := env.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func TestSpec(t *testing.T) {
	s := redis.Spec("cache", redis.WithImage("mirror.local/redis:7"))
	if s.Kind != redis.Kind || s.Image != "mirror.local/redis:7" || !slices.Equal(s.Ports, []int{redis.Port}) {
		t.Errorf("spec: want kind %s, image mirror.local/redis:7, ports [%d]; got %s, %s, %v", redis.Kind, redis.Port, s.Kind, s.Image, s.Ports)
	}
	if i := slices.Index(s.Command, "--databases"); i < 0 || s.Command[i+1] != fmt.Sprint(redis.Databases) {
		t.Errorf("command: want --databases %d, got %q", redis.Databases, s.Command)
	}
	if got, want := s.Scheme("cache:6379"), "redis://cache:6379"; got != want {
		t.Errorf("Scheme: want %q, got %q", want, got)
	}
	if got, want := redis.URL("127.0.0.1:1234", 7), "redis://127.0.0.1:1234/7"; got != want {
		t.Errorf("URL: want %q, got %q", want, got)
	}
	if got, want := cache.InternalURL, "redis://cache:6379"; got != want {
		t.Errorf("InternalURL: want %q, got %q", want, got)
	}
}

func client(t *testing.T, db int) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", cache.Host, cache.Port), DB: db})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dbSize(t *testing.T, db int) int64 {
	t.Helper()
	n, err := client(t, db).DBSize(t.Context()).Result()
	if err != nil {
		t.Fatalf("DBSIZE of db %d: %v", db, err)
	}
	return n
}

// Every test gets an empty logical database of its own, flushed when it is
// given back.
func TestDBs(t *testing.T) {
	ctx := t.Context()
	dbs := redis.NewDBs(fmt.Sprintf("%s:%d", cache.Host, cache.Port), nil)
	t.Cleanup(func() { _ = dbs.Close() })

	a, err := dbs.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dbs.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a == 0 || b == 0 {
		t.Fatalf("Acquire: want two distinct databases other than 0, got %d and %d", a, b)
	}
	for _, db := range []int{a, b} {
		if n := dbSize(t, db); n != 0 {
			t.Errorf("db %d when acquired: want empty, got %d keys", db, n)
		}
		if err := client(t, db).Set(ctx, "owner", fmt.Sprint(db), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := client(t, b).Get(ctx, "owner").Result(); got != fmt.Sprint(b) {
		t.Errorf("db %d: want its own value %d, got %q", b, b, got)
	}

	if err := dbs.Release(ctx, a); err != nil {
		t.Fatalf("Release %d: %v", a, err)
	}
	if n := dbSize(t, a); n != 0 {
		t.Errorf("db %d after Release: want flushed, got %d keys", a, n)
	}
	if n := dbSize(t, b); n != 1 {
		t.Errorf("db %d after db %d's Release: want its key kept, got %d keys", b, a, n)
	}
	if err := dbs.FlushAll(ctx); err != nil {
		t.Fatalf("FlushAll: %v", err)
	}
	if n := dbSize(t, b); n != 0 {
		t.Errorf("db %d after FlushAll: want empty, got %d keys", b, n)
	}
	if err := dbs.Release(ctx, b); err != nil {
		t.Fatalf("Release %d: %v", b, err)
	}

	// The pool is bounded by the server's databases, and a released one
	// comes back.
	var held []int
	for {
		db, err := dbs.Acquire(ctx)
		if err != nil {
			if !strings.Contains(err.Error(), "logical databases are in use") {
				t.Fatalf("Acquire when exhausted: want an error saying all are in use, got %v", err)
			}
			break
		}
		held = append(held, db)
		if len(held) > redis.Databases {
			t.Fatalf("Acquire: handed out more than %d databases", redis.Databases)
		}
	}
	if len(held) != redis.Databases-1 {
		t.Errorf("Acquire: want %d databases before exhaustion, got %d", redis.Databases-1, len(held))
	}
	if err := dbs.Release(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	if db, err := dbs.Acquire(ctx); err != nil || db != held[0] {
		t.Errorf("Acquire after a Release: want db %d back, got %d (err %v)", held[0], db, err)
	}
}

// Readiness is a PING answered by Redis, not an open port.
func TestReadinessIsPing(t *testing.T) {
	insts, err := env.Start(t.Context(), generic.Spec("impostor", "busybox:latest",
		generic.WithCommand("httpd", "-f", "-p", "6379", "-h", "/"),
		generic.WithPorts(redis.Port),
		generic.WithReady(ready.Port(redis.Port, ready.WithTimeout(20*time.Second)))))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	check := redis.Spec("x").Ready
	if err := check.Wait(t.Context(), cache.Container); err != nil {
		t.Errorf("%s on the real server: want ready, got %v", check, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	err = check.Wait(ctx, insts[0].Container)
	var te *errs.TimeoutError
	if !errors.As(err, &te) || te.Err == nil {
		t.Fatalf("%s on an HTTP server: want a *TimeoutError with the last reason, got %T: %v", check, err, err)
	}
	t.Logf("%v", err)
}

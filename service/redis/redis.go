// Package redis is the Redis service kind: default image, readiness by PING,
// the redis:// URL, and a clean keyspace per test (its own logical database,
// flushed when given back) or per scenario (FLUSHALL).
package redis

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service"
)

// Kind is the service kind's name in specs and suite files.
const Kind = "redis"

const (
	DefaultImage = "redis:7"
	Port         = 6379
	// Databases is how many logical databases the server is started with,
	// which bounds how many tests hold a clean one at the same time.
	Databases = 256
)

// Option configures a Redis spec.
type Option func(*options)

type options struct{ image string }

// WithImage replaces the default image (the image map still applies).
func WithImage(image string) Option { return func(o *options) { o.image = image } }

// Spec declares a Redis service: no persistence (tests start clean anyway)
// and enough logical databases to give every concurrent test its own.
func Spec(name string, opts ...Option) service.Spec {
	o := options{image: DefaultImage}
	for _, f := range opts {
		f(&o)
	}
	return service.Spec{
		Name:    name,
		Kind:    Kind,
		Image:   o.image,
		Command: []string{"redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--databases", strconv.Itoa(Databases)},
		Ports:   []int{Port},
		Needs:   Needs,
		// On the local backend: this machine's redis-server, with the same
		// arguments.
		Host: &service.Host{Require: []service.Program{{Name: "redis-server", Install: "Debian's redis-server (apt-get install redis-server)"}}},
		Ready: ready.Func("redis PING", func(ctx context.Context, c backend.Container) error {
			host, port, err := c.Endpoint(ctx, Port)
			if err != nil {
				return ready.Permanent(err)
			}
			cl := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("%s:%d", host, port), MaxRetries: -1,
				Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
					return backend.DialContext(ctx, c, network, addr)
				}})
			defer cl.Close()
			return cl.Ping(ctx).Err()
		}),
		Scheme: func(addr string) string { return "redis://" + addr },
	}
}

// Needs is what the image needs under a locked-down policy: its entrypoint
// starts as root, takes ownership of /data and drops to the redis user.
var Needs = policy.Needs{
	Caps:      []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
	Writable:  []string{"/data", "/tmp"},
	MinMemory: 8 << 20,
}

// URL returns the redis URL of logical database db at address.
func URL(address string, db int) string { return fmt.Sprintf("redis://%s/%d", address, db) }

// DBs hands out logical databases 1…Databases-1 (0 stays for the
// suite format's shared use) and flushes each when it is given back.
type DBs struct {
	client *goredis.Client
	mu     sync.Mutex
	free   []int
}

// NewDBs manages the logical databases of the server at address, dialing
// with dial (nil: directly).
func NewDBs(address string, dial service.DialFunc) *DBs {
	d := &DBs{client: goredis.NewClient(&goredis.Options{Addr: address, Dialer: dial})}
	for i := Databases - 1; i >= 1; i-- {
		d.free = append(d.free, i)
	}
	return d
}

// Acquire returns an empty logical database.
func (d *DBs) Acquire(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.free) == 0 {
		return 0, fmt.Errorf("redis: all %d logical databases are in use", Databases-1)
	}
	db := d.free[len(d.free)-1]
	d.free = d.free[:len(d.free)-1]
	return db, nil
}

// Release flushes db and makes it available again.
func (d *DBs) Release(ctx context.Context, db int) error {
	err := d.flush(ctx, db)
	d.mu.Lock()
	d.free = append(d.free, db)
	d.mu.Unlock()
	return err
}

// FlushAll empties every database: the per-scenario reset of the suite
// format.
func (d *DBs) FlushAll(ctx context.Context) error { return d.client.FlushAll(ctx).Err() }

func (d *DBs) flush(ctx context.Context, db int) error {
	// SELECT is per connection, so the flush runs on one pinned connection.
	conn := d.client.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, db).Err(); err != nil {
		return err
	}
	return conn.FlushDB(ctx).Err()
}

// Close releases the connection.
func (d *DBs) Close() error { return d.client.Close() }

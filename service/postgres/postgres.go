// Package postgres is the PostgreSQL service kind: its default image,
// readiness (a real `SELECT 1` through pgx, not a log line), connection
// strings, and clean databases for every test or scenario, cloned from a
// template taken right after the service's init SQL.
package postgres

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service"
)

// Kind is the service kind's name in specs and suite files.
const Kind = "postgres"

// Defaults of the official image, which the fixture images honour too.
const (
	DefaultImage    = "postgres:16"
	DefaultUser     = "postgres"
	DefaultPassword = "cleanroom"
	DefaultDatabase = "app"
	Port            = 5432
)

// TestFlags make the server fast for throwaway data: no fsync, no waiting for
// WAL flushes. A crash loses the data, which tests recreate anyway.
//
// For the same reason the data directory is a tmpfs (in memory) unless
// WithDiskData says otherwise: on a busy CI disk, cloning a database in the
// container's writable layer takes 4-10x longer, and removing the container
// at the end longer still (see docs/benchmarks.md).
var TestFlags = []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}

// Option configures a PostgreSQL spec.
type Option func(*options)

type options struct {
	image, user, password, database string
	initSQL                         []string
	initFiles                       []string
	env                             map[string]string
	diskData                        bool
}

// DataDir is where the server keeps its data (PGDATA), set explicitly so
// that the tmpfs is mounted where every image version looks.
const DataDir = "/var/lib/postgresql/data"

// WithDiskData keeps the data directory in the container's filesystem
// instead of memory, for data sets too large for RAM.
func WithDiskData() Option { return func(o *options) { o.diskData = true } }

// WithImage replaces the default image (the image map still applies).
func WithImage(image string) Option { return func(o *options) { o.image = image } }

// WithDatabase names the database that init SQL runs in.
func WithDatabase(name string) Option { return func(o *options) { o.database = name } }

// WithUser sets the superuser name.
func WithUser(user string) Option { return func(o *options) { o.user = user } }

// WithPassword sets the superuser password.
func WithPassword(pw string) Option { return func(o *options) { o.password = pw } }

// WithInitSQL adds statements run once when the service is created, before
// the template that clean databases are cloned from is taken.
func WithInitSQL(stmts ...string) Option {
	return func(o *options) { o.initSQL = append(o.initSQL, stmts...) }
}

// WithInitFiles adds .sql or .sh files (host paths) run once at creation, as
// the official image runs /docker-entrypoint-initdb.d.
func WithInitFiles(paths ...string) Option {
	return func(o *options) { o.initFiles = append(o.initFiles, paths...) }
}

// WithEnv adds environment variables to the server container.
func WithEnv(env map[string]string) Option {
	return func(o *options) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		for k, v := range env {
			o.env[k] = v
		}
	}
}

// Spec declares a PostgreSQL service.
func Spec(name string, opts ...Option) service.Spec {
	o := options{image: DefaultImage, user: DefaultUser, password: DefaultPassword, database: DefaultDatabase}
	for _, f := range opts {
		f(&o)
	}
	env := map[string]string{
		"POSTGRES_USER":     o.user,
		"POSTGRES_PASSWORD": o.password,
		"POSTGRES_DB":       o.database,
		"PGDATA":            DataDir,
	}
	for k, v := range o.env {
		env[k] = v
	}
	var files []backend.File
	for i, stmt := range o.initSQL {
		files = append(files, backend.File{
			// Numbered so they run in declaration order, before user files.
			Path:    fmt.Sprintf("/docker-entrypoint-initdb.d/%03d-cleanroom-init.sql", i),
			Content: []byte(terminate(stmt)),
		})
	}
	for i, p := range o.initFiles {
		base := p[strings.LastIndex(p, "/")+1:]
		files = append(files, backend.File{
			Path:     fmt.Sprintf("/docker-entrypoint-initdb.d/%03d-%s", 500+i, base),
			HostPath: p,
			Mode:     0o755,
		})
	}
	user, pw := o.user, o.password
	var tmpfs map[string]string
	if !o.diskData {
		tmpfs = map[string]string{DataDir: "rw"}
	}
	return service.Spec{
		Tmpfs:   tmpfs,
		Name:    name,
		Kind:    Kind,
		Image:   o.image,
		Env:     env,
		Command: append([]string{"postgres"}, TestFlags...),
		Ports:   []int{Port},
		Files:   files,
		Needs:   Needs,
		Host:    hostForm(),
		// Readiness connects to the maintenance database "postgres", never
		// to the application database: that one becomes the template for
		// clones, and a template must have no connections.
		Ready: ready.Func("postgres SELECT 1", func(ctx context.Context, c backend.Container) error {
			host, port, err := c.Endpoint(ctx, Port)
			if err != nil {
				return ready.Permanent(err)
			}
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				return backend.DialContext(ctx, c, network, addr)
			}
			return ping(ctx, DSN(fmt.Sprintf("%s:%d", host, port), user, pw, "postgres"), dial)
		}),
		Scheme: func(addr string) string { return DSN(addr, user, pw, o.database) },
	}
}

// entrypoint is the official image's entrypoint as the fixture image has
// it (POSTGRES_* variables, /docker-entrypoint-initdb.d): on the local
// backend the kind brings it along and runs it against this machine's
// PostgreSQL, so that a service starts the same way on both backends.
//
//go:embed docker-entrypoint.sh
var entrypoint []byte

// hostEntrypoint is where the local backend's PostgreSQL finds the
// entrypoint.
const hostEntrypoint = "/opt/cleanroom/postgres/docker-entrypoint.sh"

// hostForm runs this machine's PostgreSQL (Debian's layout: server
// programs in /usr/lib/postgresql/NN/bin, a postgres user) through the
// same entrypoint as the image.
func hostForm() *service.Host {
	const install = "Debian's postgresql (apt-get install postgresql)"
	dirs := []string{"/usr/lib/postgresql/*/bin"}
	var require []service.Program
	for _, p := range []string{"postgres", "initdb", "pg_ctl", "psql"} {
		require = append(require, service.Program{Name: p, Dirs: dirs, Install: install})
	}
	require = append(require,
		service.Program{Name: "bash", Install: "bash"},
		service.Program{Name: "setpriv", Install: "util-linux"})
	return &service.Host{
		Require: require,
		// A directory of its own: under a read-only root, the directory a
		// file is copied into becomes writable (policy.WithFiles).
		Entrypoint: []string{hostEntrypoint},
		Files:      []backend.File{{Path: hostEntrypoint, Content: entrypoint, Mode: 0o755}},
		// The socket directory lives under /run, which a sandbox gets
		// empty.
		Tmpfs: map[string]string{"/var/run/postgresql": "rw,mode=3777"},
	}
}

// Needs is what the image needs under a locked-down policy: its entrypoint
// starts as root, takes ownership of the data and socket directories and
// drops to the postgres user (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID),
// and the server writes its data, its socket and temporary files.
var Needs = policy.Needs{
	Caps:      []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
	Writable:  []string{DataDir, "/var/run/postgresql", "/tmp"},
	MinMemory: 48 << 20,
}

// Connect opens a connection to dsn, dialing with dial (nil: directly).
func Connect(ctx context.Context, dsn string, dial service.DialFunc) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if dial != nil {
		cfg.DialFunc = dial
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// DSN builds a postgres:// URL.
func DSN(address, user, password, database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: address, Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// WithDatabaseName returns dsn pointing at another database of the same
// server.
func WithDatabaseName(dsn, database string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Path = "/" + database
	return u.String()
}

func ping(ctx context.Context, dsn string, dial service.DialFunc) error {
	conn, err := Connect(ctx, dsn, dial)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func terminate(stmt string) string {
	s := strings.TrimSpace(stmt)
	if !strings.HasSuffix(s, ";") {
		s += ";"
	}
	return s + "\n"
}

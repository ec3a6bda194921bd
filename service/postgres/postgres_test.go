package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/service/postgres"
)

// One environment for the package's engine tests, removed when they end.
var env *cleanroom.Env

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	env, err = cleanroom.New(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func TestSpec(t *testing.T) {
	s := postgres.Spec("db",
		postgres.WithUser("admin"), postgres.WithPassword("p@ss/w:rd"), postgres.WithDatabase("shop"),
		postgres.WithInitSQL("CREATE TABLE a (x int)", "INSERT INTO a VALUES (1);"),
		postgres.WithInitFiles("/host/seed/data.sql"),
		postgres.WithEnv(map[string]string{"TZ": "UTC"}),
	)
	if s.Name != "db" || s.Kind != postgres.Kind || s.Image != postgres.DefaultImage {
		t.Errorf("spec: want db/%s/%s, got %s/%s/%s", postgres.Kind, postgres.DefaultImage, s.Name, s.Kind, s.Image)
	}
	wantEnv := map[string]string{"POSTGRES_USER": "admin", "POSTGRES_PASSWORD": "p@ss/w:rd", "POSTGRES_DB": "shop", "TZ": "UTC"}
	for k, v := range wantEnv {
		if s.Env[k] != v {
			t.Errorf("env %s: want %q, got %q", k, v, s.Env[k])
		}
	}
	if !slices.Equal(s.Ports, []int{postgres.Port}) {
		t.Errorf("ports: want [%d], got %v", postgres.Port, s.Ports)
	}
	if want := append([]string{"postgres"}, postgres.TestFlags...); !slices.Equal(s.Command, want) {
		t.Errorf("command: want %q, got %q", want, s.Command)
	}
	wantFiles := []struct{ path, content string }{
		{"/docker-entrypoint-initdb.d/000-cleanroom-init.sql", "CREATE TABLE a (x int);\n"},
		{"/docker-entrypoint-initdb.d/001-cleanroom-init.sql", "INSERT INTO a VALUES (1);\n"},
		{"/docker-entrypoint-initdb.d/500-data.sql", ""},
	}
	if len(s.Files) != len(wantFiles) {
		t.Fatalf("files: want %d, got %+v", len(wantFiles), s.Files)
	}
	for i, w := range wantFiles {
		f := s.Files[i]
		if f.Path != w.path || string(f.Content) != w.content {
			t.Errorf("file %d: want %s with %q, got %s with %q", i, w.path, w.content, f.Path, f.Content)
		}
	}
	if s.Files[2].HostPath != "/host/seed/data.sql" {
		t.Errorf("init file: want host path /host/seed/data.sql, got %q", s.Files[2].HostPath)
	}

	// The DSN survives special characters in the password.
	u, err := url.Parse(s.Scheme("db:5432"))
	if err != nil {
		t.Fatalf("Scheme: %v", err)
	}
	if pw, _ := u.User.Password(); u.User.Username() != "admin" || pw != "p@ss/w:rd" || u.Host != "db:5432" || u.Path != "/shop" || u.Query().Get("sslmode") != "disable" {
		t.Errorf("Scheme: want admin:p@ss/w:rd@db:5432/shop?sslmode=disable, got %s", u)
	}
	if got, want := postgres.WithDatabaseName(s.Scheme("h:1"), "other"), postgres.DSN("h:1", "admin", "p@ss/w:rd", "other"); got != want {
		t.Errorf("WithDatabaseName: want %q, got %q", want, got)
	}

	// Keys: the same options give the same service; other options another.
	if postgres.Spec("db").Key() != postgres.Spec("db").Key() {
		t.Error("Key: want equal keys for equal specs")
	}
	if postgres.Spec("db").Key() == postgres.Spec("db", postgres.WithInitSQL("SELECT 1")).Key() {
		t.Error("Key: want different keys when init SQL differs")
	}
}

// Readiness is a real query. A server that accepts TCP on 5432 but is not
// PostgreSQL passes a port check and never passes the PostgreSQL one.
func TestReadinessIsARealQuery(t *testing.T) {
	t.Parallel()
	insts, err := env.Start(t.Context(), generic.Spec("impostor", "busybox:latest",
		generic.WithCommand("httpd", "-f", "-p", "5432", "-h", "/"),
		generic.WithPorts(postgres.Port),
		generic.WithReady(ready.Port(postgres.Port, ready.WithTimeout(20*time.Second)))))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c := insts[0].Container
	check := postgres.Spec("impostor").Ready
	if got, want := check.String(), "postgres SELECT 1"; got != want {
		t.Errorf("check: want %q, got %q", want, got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err = check.Wait(ctx, c)
	var te *errs.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("postgres readiness on an HTTP server: want a *TimeoutError, got %T: %v", err, err)
	}
	if te.Err == nil || !strings.Contains(err.Error(), te.Err.Error()) {
		t.Errorf("TimeoutError: want the last connection error in the message, got %v", err)
	}
	if te.Timeout > 5*time.Second {
		t.Errorf("TimeoutError.Timeout: want the time waited (about 2s), got %s", te.Timeout)
	}
	t.Logf("%v", err)
}

// A real server: init SQL and init files run, readiness passes, and the
// Cloner hands out independent copies of the initialised database.
func TestServerAndCloner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	seed := filepath.Join(t.TempDir(), "seed.sql")
	if err := os.WriteFile(seed, []byte("INSERT INTO items(name) VALUES ('from-file');\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	insts, err := env.Start(ctx, postgres.Spec("db",
		postgres.WithInitSQL("CREATE TABLE items (id serial PRIMARY KEY, name text)", "INSERT INTO items(name) VALUES ('from-sql')"),
		postgres.WithInitFiles(seed)))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	db := insts[0]
	if got, want := db.InternalURL, postgres.DSN("db:5432", postgres.DefaultUser, postgres.DefaultPassword, postgres.DefaultDatabase); got != want {
		t.Errorf("InternalURL: want %q, got %q", want, got)
	}
	initRows := []string{"from-sql", "from-file"}
	if got := names(t, db.URL); !slices.Equal(got, initRows) {
		t.Fatalf("app database after init: want rows %q, got %q", initRows, got)
	}

	admin := postgres.WithDatabaseName(db.URL, "postgres")
	cl, err := postgres.NewCloner(ctx, admin, postgres.DefaultDatabase, postgres.WithAhead(2), postgres.WithWorkers(1))
	if err != nil {
		t.Fatalf("NewCloner: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = cl.Close(context.Background())
		}
	})
	var isTemplate, allowConn bool
	query(t, admin, "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1", []any{postgres.DefaultDatabase}, &isTemplate, &allowConn)
	if !isTemplate || allowConn {
		t.Errorf("template %s: want datistemplate and no connections, got datistemplate=%v datallowconn=%v", postgres.DefaultDatabase, isTemplate, allowConn)
	}

	a, err := cl.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	b, err := cl.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if a == b || a == postgres.DefaultDatabase {
		t.Fatalf("Acquire: want two new databases, got %q and %q", a, b)
	}
	dsnA, dsnB := postgres.WithDatabaseName(db.URL, a), postgres.WithDatabaseName(db.URL, b)
	exec(t, dsnA, "INSERT INTO items(name) VALUES ('only-in-a')")
	if got, want := names(t, dsnA), append(slices.Clone(initRows), "only-in-a"); !slices.Equal(got, want) {
		t.Errorf("clone %s: want %q, got %q", a, want, got)
	}
	if got := names(t, dsnB); !slices.Equal(got, initRows) {
		t.Errorf("clone %s: want only the init rows %q, got %q", b, initRows, got)
	}

	// A second Cloner on the same server (the Go API makes one when a
	// shared service that lingered out is asked for again) must neither
	// collide with the first one's databases nor lose its own when the
	// first one closes.
	cl2, err := postgres.NewCloner(ctx, admin, postgres.DefaultDatabase, postgres.WithAhead(1), postgres.WithWorkers(1))
	if err != nil {
		t.Fatalf("second NewCloner: %v", err)
	}
	closed2 := false
	t.Cleanup(func() {
		if !closed2 {
			_ = cl2.Close(context.Background())
		}
	})
	c2, err := cl2.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire from a second Cloner on the same server: %v", err)
	}
	if c2 == a || c2 == b {
		t.Fatalf("second Cloner: want a database of its own, got %q (the first handed out %q and %q)", c2, a, b)
	}

	if err := cl.Drop(ctx, a); err != nil {
		t.Fatalf("Drop %s: %v", a, err)
	}
	if got := databases(t, admin); slices.Contains(got, a) || !slices.Contains(got, b) {
		t.Errorf("after Drop(%s): want it gone and %s kept, got databases %q", a, b, got)
	}
	closed = true
	if err := cl.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The second Cloner's databases share its own prefix ("app_<tag>_").
	second := c2[:strings.LastIndex(c2, "_")+1]
	for _, name := range databases(t, admin) {
		if strings.HasPrefix(name, postgres.DefaultDatabase+"_") && !strings.HasPrefix(name, second) {
			t.Errorf("after Close: want every clone of the first Cloner dropped (issued and waiting), found %s", name)
		}
	}
	if got := names(t, postgres.WithDatabaseName(db.URL, c2)); !slices.Equal(got, initRows) {
		t.Errorf("second Cloner's %s after the first one closed: want the init rows %q, got %q", c2, initRows, got)
	}
	closed2 = true
	if err := cl2.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, name := range databases(t, admin) {
		if strings.HasPrefix(name, postgres.DefaultDatabase+"_") {
			t.Errorf("after both Closes: want no clone left, found %s", name)
		}
	}
}

func names(t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT name FROM items ORDER BY id")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}

func databases(t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT datname FROM pg_database ORDER BY datname")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}

func exec(t *testing.T, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func query(t *testing.T, dsn, sql string, args []any, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

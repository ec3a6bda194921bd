package cleanroom_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/service/postgres"
)

var itemsSchema = []postgres.Option{postgres.WithInitSQL(
	"CREATE TABLE items (id serial PRIMARY KEY, owner text NOT NULL)",
	"INSERT INTO items(owner) VALUES ('init')",
)}

func owners(t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT owner FROM items ORDER BY id")
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("rows: %v", err)
	}
	return out
}

// Each test gets its own database: the init SQL's rows and its own writes,
// nothing of another test's. Tests asking with the same options share one
// server; each database is dropped when its test ends.
func TestPostgresGivesEachTestItsOwnDatabase(t *testing.T) {
	t.Parallel()
	parent := cleanroom.Postgres(t, itemsSchema...) // holds the server across the subtests
	server := parent.Service.Container.ID()

	var mu sync.Mutex
	dbNames := map[string]string{} // test → database
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"one", "two", "three"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				db := cleanroom.Postgres(t, itemsSchema...)
				if got := db.Service.Container.ID(); got != server {
					t.Errorf("server: want the shared container %s, got %s", server, got)
				}
				conn, err := pgx.Connect(t.Context(), db.DSN)
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer conn.Close(context.Background())
				for range 3 {
					if _, err := conn.Exec(t.Context(), "INSERT INTO items(owner) VALUES ($1)", name); err != nil {
						t.Fatal(err)
					}
				}
				// Give the others time to write too before reading.
				time.Sleep(100 * time.Millisecond)
				want := []string{"init", name, name, name}
				if got := owners(t, db.DSN); !slices.Equal(got, want) {
					t.Errorf("database %s: want rows %q, got %q", db.Name, want, got)
				}
				mu.Lock()
				dbNames[name] = db.Name
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}

	seen := map[string]bool{parent.Name: true}
	for test, name := range dbNames {
		if seen[name] {
			t.Errorf("test %s: database %s was handed out twice", test, name)
		}
		seen[name] = true
	}
	// The subtests have ended: their databases are dropped in the
	// background, so they must be gone soon after, seen from the server's
	// maintenance database.
	admin := postgres.WithDatabaseName(parent.DSN, "postgres")
	conn, err := pgx.Connect(t.Context(), admin)
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer conn.Close(context.Background())
	var left []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rows, err := conn.Query(t.Context(), "SELECT datname FROM pg_database WHERE datname = ANY($1)", slices.Collect(maps.Values(dbNames)))
		if err != nil {
			t.Fatal(err)
		}
		left, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) != 0 {
		t.Errorf("after the subtests ended: want their databases %v dropped, still there: %v", dbNames, left)
	}
	if got, want := owners(t, parent.DSN), []string{"init"}; !slices.Equal(got, want) {
		t.Errorf("the parent's database: want only %q, got %q", want, got)
	}

	// The official name reached the local fixture through cleanroom.toml.
	if c, ok := inspect(t, engine(t), server); !ok || c.Config.Image != "cleanroom-fixtures/postgres:15" {
		t.Errorf("server image: want cleanroom-fixtures/postgres:15 (mapped from %s), got %+v", postgres.DefaultImage, c.Config)
	}

	// Other options are another server.
	other := cleanroom.Postgres(t, postgres.WithInitSQL("CREATE TABLE other (x int)"))
	if other.Service.Container.ID() == server {
		t.Errorf("Postgres with other options: want another server, got the shared one %s", server)
	}
}

// Each test gets an empty logical database of a shared Redis server, its
// own while it runs, flushed when the test ends.
func TestRedisGivesEachTestAnEmptyDB(t *testing.T) {
	t.Parallel()
	parent := cleanroom.Redis(t) // holds the server and one database throughout
	server := parent.Service.Container.ID()

	// use acquires a database for t, checks it is empty and its own, and
	// writes two keys to it.
	use := func(t *testing.T, held ...int) int {
		t.Helper()
		kv := cleanroom.Redis(t)
		if got := kv.Service.Container.ID(); got != server {
			t.Errorf("server: want the shared container %s, got %s", server, got)
		}
		if slices.Contains(held, kv.DB) {
			t.Errorf("logical db %d: want one that no running test holds (held: %v)", kv.DB, held)
		}
		opt, err := goredis.ParseURL(kv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if opt.DB != kv.DB {
			t.Errorf("URL %s: want logical db %d, got %d", kv.URL, kv.DB, opt.DB)
		}
		rdb := goredis.NewClient(opt)
		defer rdb.Close()
		if n, err := rdb.DBSize(t.Context()).Result(); err != nil || n != 0 {
			t.Fatalf("db %d when handed out: want empty, got %d keys (err %v)", kv.DB, n, err)
		}
		if err := rdb.MSet(t.Context(), "owner", t.Name(), "other", "x").Err(); err != nil {
			t.Fatal(err)
		}
		return kv.DB
	}
	dbSize := func(t *testing.T, db int) int64 {
		t.Helper()
		rdb := goredis.NewClient(&goredis.Options{Addr: parent.Addr, DB: db})
		defer rdb.Close()
		n, err := rdb.DBSize(t.Context()).Result()
		if err != nil {
			t.Fatalf("DBSIZE %d: %v", db, err)
		}
		return n
	}

	var first, nested int
	t.Run("first", func(t *testing.T) {
		first = use(t, parent.DB)
		// A test running while this one holds its database gets another.
		t.Run("nested", func(t *testing.T) { nested = use(t, parent.DB, first) })
		if n := dbSize(t, nested); n != 0 {
			t.Errorf("db %d of the nested test after it ended: want flushed, got %d keys", nested, n)
		}
		if n := dbSize(t, first); n != 2 {
			t.Errorf("db %d while its test runs: want its 2 keys kept, got %d", first, n)
		}
	})
	if n := dbSize(t, first); n != 0 {
		t.Errorf("db %d of the first test after it ended: want flushed, got %d keys", first, n)
	}
	// A later test may get a database used before: it must be empty.
	t.Run("later", func(t *testing.T) { use(t, parent.DB) })
	if n := dbSize(t, parent.DB); n != 0 {
		t.Errorf("the parent's db %d: want untouched by the subtests, got %d keys", parent.DB, n)
	}
}

// A shared service that lingered out is removed while the next test may
// already ask for it again: that test must get a working service (the same
// one, or a new one once the old container is gone), never a name
// collision. Linger is shortened so that every round races the removal.
// Not parallel: it changes the package's Linger.
func TestSharedServiceAskedAgainAsItLingersOut(t *testing.T) {
	old := cleanroom.Linger
	cleanroom.Linger = time.Millisecond
	t.Cleanup(func() { cleanroom.Linger = old })
	spec := sleeper("lingering")
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			inst := cleanroom.Service(t, spec)
			res, err := inst.Container.Exec(t.Context(), backend.ExecSpec{Cmd: []string{"true"}, Timeout: 10 * time.Second})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("exec in the shared service: want exit 0, got %d (err %v)", res.ExitCode, err)
			}
		})
		time.Sleep(time.Duration(round) * 3 * time.Millisecond)
	}
}

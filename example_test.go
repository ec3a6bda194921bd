package cleanroom_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
)

// TestMain removes the shared environment when the package's tests end.
func TestMain(m *testing.M) { os.Exit(cleanroom.RunTests(m)) }

// A test asks for a PostgreSQL database and gets its own clean clone of the
// init SQL's state.
func TestPostgresGoAPI(t *testing.T) {
	db := cleanroom.Postgres(t, postgres.WithInitSQL("CREATE TABLE users (id serial PRIMARY KEY, name text)"))

	conn, err := pgx.Connect(t.Context(), db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "INSERT INTO users(name) VALUES ('ada')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("users: got %d rows, want 1", n)
	}
}

func TestRedisGoAPI(t *testing.T) {
	kv := cleanroom.Redis(t)
	opt, err := goredis.ParseURL(kv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	if n, err := rdb.DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Fatalf("fresh logical db %d: size %d, err %v; want empty", kv.DB, n, err)
	}
	if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// New starts an environment; Start brings up services in dependency order
// and returns them ready; Close removes everything.
func ExampleNew() {
	ctx := context.Background()
	env, err := cleanroom.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close(ctx)

	svcs, err := env.Start(ctx,
		postgres.Spec("db", postgres.WithInitSQL("CREATE TABLE greetings (text text)", "INSERT INTO greetings VALUES ('hello')")),
		redis.Spec("cache"),
	)
	if err != nil {
		log.Fatal(err)
	}
	db := svcs[0]
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	var text string
	if err := conn.QueryRow(ctx, "SELECT text FROM greetings").Scan(&text); err != nil {
		log.Fatal(err)
	}
	fmt.Println(text)
	fmt.Println(db.Address, svcs[1].Address)
	// Output:
	// hello
	// db:5432 cache:6379
}

// Services reach each other by name on the environment's network.
func ExampleEnv_Start() {
	ctx := context.Background()
	env, err := cleanroom.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close(ctx)

	svcs, err := env.Start(ctx,
		generic.Spec("web", "busybox:latest",
			generic.WithCommand("sh", "-c", "echo hi from web > /tmp/index.html && httpd -f -p 8080 -h /tmp"),
			generic.WithPorts(8080),
			generic.WithReady(ready.Port(8080))),
		generic.Spec("client", "busybox:latest",
			generic.WithCommand("sleep", "3600"),
			generic.WithDependsOn("web")),
	)
	if err != nil {
		log.Fatal(err)
	}
	res, err := svcs[1].Container.Exec(ctx, backendExec("sh", "-c", `printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc web 8080 | tail -n 1`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(res.Stdout))
	// Output:
	// hi from web
}

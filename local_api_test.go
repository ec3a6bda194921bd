package cleanroom_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
)

// On the local backend a Go test connects by itself, with the URL it is
// given, exactly as on Docker: the environment publishes each service's
// primary port on this machine's loopback.
func TestLocalBackendGoAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	ctx := t.Context()
	env, err := cleanroom.New(ctx, cleanroom.WithBackendName("local"), cleanroom.WithoutProjectConfig())
	if err != nil {
		t.Fatalf("New on the local backend: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = env.Close(context.Background())
		}
	})
	if got := env.Backend().Name(); got != "local" {
		t.Fatalf("backend: got %q, want local", got)
	}
	page := filepath.Join(t.TempDir(), "index.html")
	if err := os.WriteFile(page, []byte("<h1>local</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	web := service.Spec{Name: "web", Kind: "generic",
		Command: []string{"busybox", "httpd", "-f", "-p", "8080", "-h", "/www"}, Ports: []int{8080},
		Files: []backend.File{{Path: "/www/index.html", HostPath: page}}}
	insts, err := env.Start(ctx, postgres.Spec("db", postgres.WithInitSQL("CREATE TABLE t (v text)", "INSERT INTO t VALUES ('from init')")),
		redis.Spec("cache"), web)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	db, cache, srv := insts[0], insts[1], insts[2]
	for _, in := range insts {
		if !in.Published || in.Host != "127.0.0.1" || in.Port == in.Spec.PrimaryPort() {
			t.Errorf("service %s: got %s:%d published=%v, want a port published on 127.0.0.1 (not the container's own %d)",
				in.Spec.Name, in.Host, in.Port, in.Published, in.Spec.PrimaryPort())
		}
		if !strings.HasPrefix(in.Image, "host:") {
			t.Errorf("service %s: image %q, want the host program it runs", in.Spec.Name, in.Image)
		}
	}

	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatalf("pgx.Connect(%s) from the test: %v", db.URL, err)
	}
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "from init" {
		t.Errorf("SELECT v FROM t: got %q, %v; want the init row", v, err)
	}
	conn.Close(ctx)

	opt, err := goredis.ParseURL(cache.URL)
	if err != nil {
		t.Fatal(err)
	}
	rc := goredis.NewClient(opt)
	if got, err := rc.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Errorf("PING: got %q, %v", got, err)
	}
	rc.Close()

	// The environment's own dialer takes the published address too.
	if conn, err := env.DialContext(ctx, "tcp", net.JoinHostPort(db.Host, strconv.Itoa(db.Port))); err != nil {
		t.Errorf("Env.DialContext to the published %s:%d: %v", db.Host, db.Port, err)
	} else {
		conn.Close()
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(srv.URL + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", srv.URL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "<h1>local</h1>\n" {
		t.Errorf("GET %s: got %d %q, want 200 and the copied page", srv.URL, resp.StatusCode, body)
	}
	client.CloseIdleConnections()

	if err := env.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	// Once closed, nothing listens on the published ports any more.
	if c, err := pgx.Connect(ctx, db.URL); err == nil {
		c.Close(ctx)
		t.Errorf("pgx.Connect after Close: connected, want the published port gone")
	}
}

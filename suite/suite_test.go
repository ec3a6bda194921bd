package suite_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/suite"
)

const example = "testdata/valid/users.cleanroom.toml"

// at is a position in the example file.
func at(line, col int) suite.Pos { return suite.Pos{File: example, Line: line, Col: col} }

func load(t *testing.T, path string) *suite.Suite {
	t.Helper()
	s, err := suite.Load(path)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", path, err)
	}
	return s
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// TestDesignExample loads the example of DESIGN.md and checks the model.
func TestDesignExample(t *testing.T) {
	s := load(t, example)
	abs, _ := filepath.Abs("testdata/valid")

	check(t, "File", s.File, example)
	check(t, "Dir", s.Dir, abs)
	check(t, "Name", s.Name, suite.Field[string]{Value: "users", Pos: at(2, 8)})
	check(t, "Description", s.Description.Value, "user API against postgres and redis")
	check(t, "Timeout", s.Timeout, suite.Field[time.Duration]{Value: 2 * time.Minute, Pos: at(4, 11)})
	check(t, "Seed", s.Seed, suite.Field[int64]{Value: 42, Pos: at(5, 8)})
	check(t, "Vars", s.VarValues(), map[string]any{"greeting": "hello"})
	check(t, "Images", s.Images["postgres:16"].Value, "registry.local/postgres:16")

	p := s.Policy
	check(t, "Policy.Pos", p.Pos, at(13, 1))
	l := p.Layer
	check(t, "Policy.Preset", *l.Preset, "standard")
	check(t, "Policy.Network", *l.Network, policy.Isolated)
	check(t, "Policy.ReadOnlyRootfs", *l.ReadOnlyRootfs, false)
	check(t, "Policy.Keys[read_only_rootfs]", p.KeyPos("read_only_rootfs"), at(16, 20))
	check(t, "Policy.Layer.Pos[read_only_rootfs]", l.Pos["read_only_rootfs"], at(16, 20).String())
	check(t, "Policy.Memory", *l.Memory, int64(512<<20))
	check(t, "Policy.CPUs", *l.CPUs, 1.0)
	check(t, "Policy.Pids", *l.Pids, int64(512))
	check(t, "Policy.Secrets", l.Secrets, []string{"DB_PASSWORD"})

	var names []string
	for _, svc := range s.Services {
		names = append(names, svc.Name)
	}
	check(t, "services", names, []string{"db", "cache", "api", "web"})

	db := s.Service("db")
	check(t, "db.Pos", db.Pos, at(22, 1))
	check(t, "db.Kind", db.Kind.Value, suite.KindPostgres)
	check(t, "db.Image", db.Image.Value, "postgres:16")
	check(t, "db.Database", db.Database.Value, "app")
	check(t, "db.InitSQL", texts(db.InitSQL), []string{"CREATE TABLE users (id serial primary key, name text)"})
	check(t, "db.PrimaryPort", db.PrimaryPort(), 5432)

	cache := s.Service("cache")
	check(t, "cache.Kind", cache.Kind.Value, suite.KindRedis)
	check(t, "cache.Image.IsSet", cache.Image.IsSet(), false)
	check(t, "cache.PrimaryPort", cache.PrimaryPort(), 6379)

	api := s.Service("api")
	check(t, "api.Build.Context.Value", api.Build.Context.Value, "../app")
	check(t, "api.Build.Context.Abs", api.Build.Context.Abs, filepath.Join(filepath.Dir(abs), "app"))
	check(t, "api.Build.Dockerfile", api.Build.Dockerfile.Value, "Dockerfile")
	check(t, "api.Build.Keep", api.Build.Keep.Value, false)
	check(t, "api.Env", api.Env["DATABASE_URL"].Text, "{{ .services.db.internal_url }}")
	check(t, "api.Env static", api.Env["DATABASE_URL"].IsStatic(), false)
	check(t, "api.Ports", api.Ports.Value, []int{8080})
	check(t, "api.DependsOn", fieldValues(api.DependsOn), []string{"db", "cache"})
	check(t, "api.Restart", api.Restart, suite.Field[string]{Value: suite.RestartPerSuite})

	web := s.Service("web")
	check(t, "web.Command", texts(web.Command), []string{"httpd", "-f", "-p", "8080", "-h", "/www"})
	check(t, "web.Env", web.Env["MODE"].Text, "test")
	check(t, "web.Files", len(web.Files), 1)
	f := web.Files[0]
	check(t, "web.Files[0].Dest", f.Dest, "/www/index.html")
	check(t, "web.Files[0].Source.Abs", f.Source.Abs, filepath.Join(abs, "testdata/index.html"))
	check(t, "web.Files[0].Pos", f.Pos, at(44, 11))
	w := web.Wait
	check(t, "web.Wait.HTTP", w.HTTP.Value, "/")
	check(t, "web.Wait.Port", w.Port.Value, 8080)
	check(t, "web.Wait.Status", w.Status.Value, 200)
	check(t, "web.Wait.Timeout", w.Timeout.Value, 30*time.Second)
	check(t, "web.Wait.Log", w.Log.IsSet(), false)

	check(t, "StartOrder", startOrder(s), "[db cache] [api web]")

	check(t, "scenarios", len(s.Scenarios), 1)
	sc := s.Scenarios[0]
	check(t, "scenario.Name", sc.Name.Value, "create user")
	check(t, "scenario.Pos", sc.Pos, at(48, 1))
	check(t, "steps", len(sc.Steps), 5)
	check(t, "Suite.Steps", s.Steps(), 5)

	insert := sc.Steps[0]
	check(t, "insert.Pos", insert.Pos, at(51, 1))
	check(t, "insert.Kind", insert.Kind, suite.StepSQL)
	check(t, "insert.Service", insert.Service.Value, "db")
	check(t, "insert.SQL", insert.SQL.Text, "INSERT INTO users(name) VALUES ('ada') RETURNING id")
	check(t, "insert.Timeout default", insert.Timeout, suite.Field[time.Duration]{Value: suite.DefaultStepTimeout})
	check(t, "insert.Expect.Rows", insert.Expect.Rows, suite.Field[[][]any]{Value: [][]any{{int64(1)}}, Pos: at(55, 19)})
	check(t, "insert.Capture", len(insert.Capture), 1)
	c := insert.Capture[0]
	check(t, "capture", fmt.Sprintf("%s=%s %s %s", c.Name, c.Source, c.Path.String(), c.Pos), "user_id=rows $[0][0] "+at(56, 23).String())

	cacheIt := sc.Steps[1]
	check(t, "cacheIt.Kind", cacheIt.Kind, suite.StepRedis)
	check(t, "cacheIt.Redis", texts(cacheIt.Redis), []string{"SET", "user:{{ .vars.user_id }}", "ada"})
	reply, ok := cacheIt.Expect.Reply.Value.(suite.Template)
	check(t, "cacheIt.Expect.Reply", ok && reply.Text == "OK", true)

	greet := sc.Steps[2]
	check(t, "greet.Kind", greet.Kind, suite.StepExec)
	check(t, "greet.Exec", texts(greet.Exec), []string{"sh", "-c", "echo {{ .vars.greeting }}; echo warn >&2; exit 3"})
	check(t, "greet.Timeout", greet.Timeout.Value, 5*time.Second)
	check(t, "greet.Expect.ExitCode", greet.Expect.ExitCode, suite.Field[int]{Value: 3, Pos: at(69, 24)})
	check(t, "greet.Expect.Stdout", greet.Expect.Stdout.Text, "hello\n")
	check(t, "greet.Expect.StderrContains", texts(greet.Expect.StderrContains), []string{"warn"})

	page := sc.Steps[3]
	check(t, "page.Kind", page.Kind, suite.StepHTTP)
	check(t, "page.Service", page.Service.Value, "web")
	check(t, "page.HTTP.Port", page.HTTP.Port.Value, 8080)
	check(t, "page.HTTP.Method", page.HTTP.Method.Value, "GET")
	check(t, "page.HTTP.Path", page.HTTP.Path.Text, "/")
	check(t, "page.Expect.Status", page.Expect.Status.Value, 200)
	check(t, "page.Expect.BodyContains", texts(page.Expect.BodyContains), []string{"<h1>"})
	check(t, "page.Snapshot", page.Snapshot.Value, "home-page")

	oneShot := sc.Steps[4]
	check(t, "oneShot.Image", oneShot.Image.Value, "busybox:latest")
	check(t, "oneShot.Service.IsSet", oneShot.Service.IsSet(), false)
	check(t, "oneShot.Expect.StdoutMatches", oneShot.Expect.StdoutMatches.Value.String(), "^Linux")
	check(t, "oneShot.Expect.ExitCode default", oneShot.Expect.ExitCode, suite.Field[int]{})
}

func texts(ts []suite.Template) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Text
	}
	return out
}

func fieldValues(fs []suite.Field[string]) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Value
	}
	return out
}

func startOrder(s *suite.Suite) string {
	var groups []string
	for _, g := range s.StartOrder() {
		var names []string
		for _, svc := range g {
			names = append(names, svc.Name)
		}
		groups = append(groups, "["+strings.Join(names, " ")+"]")
	}
	return strings.Join(groups, " ")
}

// TestTemplatesRender renders the example's templates as the runner will.
func TestTemplatesRender(t *testing.T) {
	s := load(t, example)
	services := map[string]suite.Endpoints{"db": {Host: "127.0.0.1", Port: 32768, URL: "postgres://127.0.0.1:32768/app", Address: "db:5432", InternalURL: "postgres://db:5432/app"}}

	data := suite.TemplateData(s.VarValues(), services, 42)
	env, err := suite.RenderMap(s.Service("api").Env, data)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "api env", env, map[string]string{"DATABASE_URL": "postgres://db:5432/app"})

	greet := s.Scenarios[0].Steps[2]
	argv, err := suite.RenderAll(greet.Exec, data)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "greet argv", argv[2], "echo hello; echo warn >&2; exit 3")

	// A captured value joins .vars for the steps after it.
	vars := s.VarValues()
	vars["user_id"] = int64(7)
	args, err := suite.RenderAll(s.Scenarios[0].Steps[1].Redis, suite.TemplateData(vars, services, 42))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "redis args", args, []string{"SET", "user:7", "ada"})

	// Missing data is an error at the template's position, never "".
	_, err = suite.RenderAll(s.Scenarios[0].Steps[1].Redis, data)
	if err == nil || !strings.HasPrefix(err.Error(), at(61, 17).String()+": ") || !strings.Contains(err.Error(), "user_id") {
		t.Errorf("render without user_id: err = %v", err)
	}

	lit, err := suite.RenderLiteral([]any{suite.Template{Text: "x"}, int64(1), map[string]any{"k": suite.Template{Text: "v"}}}, data)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "literal", lit, any([]any{"x", int64(1), map[string]any{"k": "v"}}))
}

func TestParseDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "smoke.cleanroom.toml")
	src := `
[[scenario]]
[[scenario.step]]
image = "busybox:latest"
exec = ["true"]
retries = 2
capture = { out = "stdout" }
[[scenario.step]]
image = "busybox:latest"
exec = ["echo", "{{ .vars.out }}-{{ .seed }}"]
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s := load(t, path)
	check(t, "Name (from the file name)", s.Name, suite.Field[string]{Value: "smoke"})
	check(t, "Seed.IsSet", s.Seed.IsSet(), false)
	check(t, "Timeout.IsSet", s.Timeout.IsSet(), false)
	sc := s.Scenarios[0]
	check(t, "scenario name", sc.Name.Value, "scenario 1")
	check(t, "step name", sc.Steps[1].Name.Value, "step 2")
	check(t, "retries", sc.Steps[0].Retries.Value, 2)
	check(t, "retry delay", sc.Steps[0].RetryDelay, suite.Field[time.Duration]{Value: suite.DefaultRetryDelay})
	check(t, "timeout", sc.Steps[1].Timeout.Value, suite.DefaultStepTimeout)
}

func TestLoadAll(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := "[[scenario]]\n[[scenario.step]]\nimage = \"busybox\"\nexec = [\"true\"]\n"
	write("a.cleanroom.toml", good)
	write("sub/deeper/b.cleanroom.toml", good)
	write("sub/bad.cleanroom.toml", "nme = 1\n"+good)
	write("sub/other.cleanroom.toml", "timeout = 5\n"+good)
	write("testdata/skipped.cleanroom.toml", "broken = [")
	write(".hidden/skipped.cleanroom.toml", "broken = [")
	write("notes.toml", "broken = [")

	suites, err := suite.LoadAll(dir)
	var names []string
	for _, s := range suites {
		names = append(names, s.Name.Value)
	}
	check(t, "valid suites", names, []string{"a", "b"})
	var list errs.ValidationErrors
	if !errors.As(err, &list) {
		t.Fatalf("err = %T %v, want ValidationErrors", err, err)
	}
	rel := func(e *errs.ValidationError) string {
		return strings.TrimPrefix(e.Error(), dir+string(filepath.Separator))
	}
	var got []string
	for _, e := range list {
		got = append(got, rel(e))
	}
	check(t, "errors", got, []string{
		`sub/bad.cleanroom.toml:1:1: unknown key "nme" — did you mean "name"?`,
		`sub/other.cleanroom.toml:1:11: "timeout" must be a duration string such as "500ms" or "2m", not an integer`,
	})

	// A file given by name is loaded whatever its name; a missing path and
	// a directory without suites are errors of their own.
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = suite.LoadAll(filepath.Join(dir, "notes.toml"), filepath.Join(dir, "missing"), empty)
	want := []string{
		filepath.Join(dir, "missing") + ": no such file or directory",
		empty + ": no *.cleanroom.toml files in this directory",
		filepath.Join(dir, "notes.toml") + ":1:10: invalid TOML: array is incomplete",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("LoadAll errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}

	files, err := suite.Find(filepath.Join(dir, "a.cleanroom.toml"), dir)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "Find (no duplicates)", len(files), 4)
}

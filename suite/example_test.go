package suite_test

import (
	"fmt"

	"github.com/cleanroomhq/cleanroom/suite"
)

func ExampleLoad() {
	s, err := suite.Load("testdata/valid/users.cleanroom.toml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, group := range s.StartOrder() {
		for _, svc := range group {
			fmt.Printf("service %s (%s) declared at %s\n", svc.Name, svc.Kind.Value, svc.Pos)
		}
	}
	for _, sc := range s.Scenarios {
		for _, st := range sc.Steps {
			fmt.Printf("%s / %s: %s step at line %d\n", sc.Name.Value, st.Name.Value, st.Kind, st.Pos.Line)
		}
	}
	// Output:
	// service db (postgres) declared at testdata/valid/users.cleanroom.toml:22:1
	// service cache (redis) declared at testdata/valid/users.cleanroom.toml:28:1
	// service api (generic) declared at testdata/valid/users.cleanroom.toml:31:1
	// service web (generic) declared at testdata/valid/users.cleanroom.toml:38:1
	// create user / insert: sql step at line 51
	// create user / cache it: redis step at line 58
	// create user / greet: exec step at line 64
	// create user / page: http step at line 71
	// create user / one-shot: exec step at line 77
}

// Every problem is reported at once, each at its position.
func ExampleParse_errors() {
	src := `
[services.web]
type = "generic"
image = "busybox:latest"
prots = [8080]

[[scenario]]
[[scenario.step]]
service = "web"
exec = ["echo", "{{ .vars.greeting }}"]
expect = { rows = [[1]] }
`
	_, err := suite.Parse("web.cleanroom.toml", []byte(src))
	fmt.Println(err)
	// Output:
	// web.cleanroom.toml:5:1: unknown key "prots" — did you mean "ports"?
	// web.cleanroom.toml:10:17: template uses undefined variable .vars.greeting (define it in [vars] or capture it in an earlier step)
	// web.cleanroom.toml:11:12: expectation "rows" applies to sql steps, not to exec steps (which expect exit_code, stdout, stderr, stdout_contains, stderr_contains, stdout_matches, stderr_matches, stdout_json, max_duration, spans)
}

func ExampleTemplate_Render() {
	s, err := suite.Load("testdata/valid/users.cleanroom.toml")
	if err != nil {
		fmt.Println(err)
		return
	}
	data := suite.TemplateData(s.VarValues(), map[string]suite.Endpoints{
		"db": {Host: "127.0.0.1", Port: 49153, Address: "db:5432", InternalURL: "postgres://postgres:cleanroom@db:5432/app?sslmode=disable"},
	}, s.Seed.Value)
	env, err := suite.RenderMap(s.Service("api").Env, data)
	fmt.Println(env["DATABASE_URL"], err)
	// Output:
	// postgres://postgres:cleanroom@db:5432/app?sslmode=disable <nil>
}

package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/suite"
)

// backendCase is a suite (and optionally a project cleanroom.toml) and the
// exact problems CheckBackend must report for a backend with or without
// images, in order, each "file:line:col: message".
type backendCase struct {
	name       string
	runsImages bool
	suite      string // t.cleanroom.toml
	project    string // cleanroom.toml; "" for none
	want       []string
}

// missingProgram is a program name no machine has installed.
const missingProgram = "cleanroom-test-no-such-program"

// hostSh is a program every machine the local backend runs on has.
const hostSh = "sh"

// Messages CheckBackend repeats.
const (
	needsDocker = "needs the Docker backend (--backend docker): the local backend runs programs of this machine, not images"
	bridgeMsg   = `network "bridge" needs the Docker backend: the local backend has no network to the host`
)

func TestCheckBackend(t *testing.T) {
	cases := []backendCase{
		{
			name: "local: what the local backend runs is fine",
			suite: `name = "fine"
[services.db]
type = "postgres"
image = "postgres:16"          # kinds run from this machine whatever image they name
[services.cache]
type = "redis"
[services.web]
type = "generic"
image = "busybox:latest"       # not used on local: the command runs from here
command = ["` + hostSh + `", "-c", "sleep 60"]
ports = [8080]
[services.tool]
type = "generic"
entrypoint = ["` + hostSh + `"]  # entrypoint and command: the entrypoint's program is checked
command = ["-c", "sleep 60"]
[[scenario]]
name = "s"
[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["` + missingProgram + `"]  # a one-shot's program is looked up when it runs
policy = { network = "none" }
`,
		},
		{
			name: "local: build",
			suite: `[services.app]
type = "generic"
build = { context = "DIR" }
command = ["` + hostSh + `"]
`,
			want: []string{`t.cleanroom.toml:3:9: service "app": a build ` + needsDocker},
		},
		{
			name: "local: image without command",
			suite: `[services.web]
type = "generic"
image = "busybox:latest"
ports = [8080]
`,
			want: []string{`t.cleanroom.toml:3:9: service "web": image busybox:latest runs its own command, which ` + needsDocker + `; give the service a command to run from this machine`},
		},
		{
			name: "local: program not installed",
			suite: `[services.web]
type = "generic"
command = ["` + missingProgram + `", "--serve"]
`,
			want: []string{`t.cleanroom.toml:3:12: service "web": program "` + missingProgram + `" is not installed on this machine, and the local backend runs the service's command from this machine (its image is not used); install it, or use the Docker backend (--backend docker)`},
		},
		{
			name: "local: the entrypoint's program is the one checked",
			suite: `[services.web]
type = "generic"
entrypoint = ["` + missingProgram + `"]
command = ["` + hostSh + `"]
`,
			want: []string{`t.cleanroom.toml:3:15: service "web": program "` + missingProgram + `" is not installed on this machine, and the local backend runs the service's command from this machine (its image is not used); install it, or use the Docker backend (--backend docker)`},
		},
		{
			name: "local: a templated program name is not checked",
			suite: `[vars]
prog = "` + missingProgram + `"
[services.web]
type = "generic"
command = ["{{ .vars.prog }}", "--serve"]
`,
		},
		{
			name: "local: network bridge on a service",
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { network = "bridge" }
`,
			want: []string{`t.cleanroom.toml:1:1: service "web": ` + bridgeMsg},
		},
		{
			name: "local: network bridge on a step",
			suite: `[[scenario]]
name = "s"

[[scenario.step]]
name = "fetch"
image = "busybox:latest"
exec = ["wget", "http://example.com"]
policy = { network = "bridge" }
`,
			want: []string{`t.cleanroom.toml:4:1: step "fetch": ` + bridgeMsg},
		},
		{
			name: "local: network bridge from the suite's policy reaches every service and step",
			suite: `[policy]
network = "bridge"
[services.cache]
type = "redis"
[[scenario]]
name = "s"
[[scenario.step]]
name = "fetch"
image = "busybox:latest"
exec = ["wget", "http://example.com"]
`,
			want: []string{
				`t.cleanroom.toml:3:1: service "cache": ` + bridgeMsg,
				`t.cleanroom.toml:7:1: step "fetch": ` + bridgeMsg,
			},
		},
		{
			name: "local: network bridge from the project's policy",
			project: `[policy]
network = "bridge"
`,
			suite: `[services.cache]
type = "redis"
`,
			want: []string{
				`t.cleanroom.toml:1:1: service "cache": ` + bridgeMsg,
				`t.cleanroom.toml:6:1: step "noop": ` + bridgeMsg, // the one-shot of noopScenario
			},
		},
		{
			name: "local: two services on one port",
			suite: `[services.a]
type = "generic"
command = ["` + hostSh + `"]
ports = [8080, 9090]
[services.b]
type = "generic"
command = ["` + hostSh + `"]
ports = [9090, 8080]
`,
			want: []string{
				`t.cleanroom.toml:5:1: services "a" and "b" both use port 8080: on the local backend the services of a suite share one loopback, so each port can be used once`,
				`t.cleanroom.toml:5:1: services "a" and "b" both use port 9090: on the local backend the services of a suite share one loopback, so each port can be used once`,
			},
		},
		{
			name: "local: a kind's own port counts",
			suite: `[services.db]
type = "postgres"
[services.replica]
type = "postgres"
[services.proxy]
type = "generic"
command = ["` + hostSh + `"]
ports = [6379]
[services.cache]
type = "redis"
`,
			want: []string{
				`t.cleanroom.toml:3:1: services "db" and "replica" both use port 5432: on the local backend the services of a suite share one loopback, so each port can be used once`,
				`t.cleanroom.toml:9:1: services "proxy" and "cache" both use port 6379: on the local backend the services of a suite share one loopback, so each port can be used once`,
			},
		},
		{
			name: "local: every problem at once",
			suite: `[services.app]
type = "generic"
build = { context = "DIR" }
policy = { network = "bridge" }
[services.web]
type = "generic"
image = "busybox:latest"
[[scenario]]
name = "s"
[[scenario.step]]
name = "out"
image = "busybox:latest"
exec = ["true"]
policy = { network = "bridge" }
`,
			want: []string{
				`t.cleanroom.toml:3:9: service "app": a build ` + needsDocker,
				`t.cleanroom.toml:1:1: service "app": ` + bridgeMsg,
				`t.cleanroom.toml:7:9: service "web": image busybox:latest runs its own command, which ` + needsDocker + `; give the service a command to run from this machine`,
				`t.cleanroom.toml:10:1: step "out": ` + bridgeMsg,
			},
		},
		{
			name:       "docker: a generic service with a command and no image",
			runsImages: true,
			suite: `[services.db]
type = "postgres"
[services.web]
type = "generic"
command = ["` + missingProgram + `"]
policy = { network = "bridge" }
`,
			want: []string{`t.cleanroom.toml:3:1: service "web" has a command and no image: it runs a program of this machine, which only the local backend does (--backend local); give it an image to run it here`},
		},
		{
			name:       "docker: everything the local backend refuses is fine",
			runsImages: true,
			suite: `[policy]
network = "bridge"
[services.app]
type = "generic"
build = { context = "DIR" }
ports = [8080]
[services.web]
type = "generic"
image = "busybox:latest"
ports = [8080]
[services.db]
type = "postgres"
[services.replica]
type = "postgres"
[[scenario]]
name = "s"
[[scenario.step]]
name = "out"
image = "busybox:latest"
exec = ["` + missingProgram + `"]
`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.suite
			if !strings.Contains(src, "[[scenario]]") {
				// A suite needs a scenario; after the case's lines, so that
				// their positions stay as written.
				src += noopScenario
			}
			// A build's context must hold a Dockerfile; an absolute
			// directory keeps the columns of the line as written.
			src = strings.ReplaceAll(src, "DIR", buildContext(t))
			s, err := suite.Parse("t.cleanroom.toml", []byte(src))
			if err != nil {
				t.Fatalf("the suite must parse, got:\n%v\nsuite:\n%s", err, numbered(src))
			}
			var project *suite.Policy
			if c.project != "" {
				if project, err = suite.ParseProjectPolicy("cleanroom.toml", []byte(c.project)); err != nil {
					t.Fatalf("the project file must parse, got:\n%v", err)
				}
			}
			var got []string
			for _, p := range CheckBackend(s, project, Traits{RunsImages: c.runsImages}) {
				got = append(got, p.Error())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("CheckBackend(runsImages=%v):\nexpected %d problem(s):\n  %s\ngot %d:\n  %s\nsuite:\n%s",
					c.runsImages, len(c.want), strings.Join(c.want, "\n  "), len(got), strings.Join(got, "\n  "), numbered(src))
			}
		})
	}
}

// noopScenario completes a case that declares only services.
const noopScenario = `
[[scenario]]
name = "noop"
[[scenario.step]]
name = "noop"
image = "busybox:latest"
exec = ["true"]
`

// buildContext is a directory with a Dockerfile.
func buildContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox:latest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A suite without positions (built in Go, not read from a file) is reported
// at its file.
func TestCheckBackendWithoutPositions(t *testing.T) {
	s, err := suite.Parse("t.cleanroom.toml", []byte(`[services.web]
type = "generic"
command = ["`+missingProgram+`"]
`+noopScenario))
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range s.Services {
		svc.Pos = suite.Pos{}
		for i := range svc.Command {
			svc.Command[i].Pos = suite.Pos{}
		}
	}
	list := CheckBackend(s, nil, Traits{})
	if len(list) != 1 || list[0].Pos != "t.cleanroom.toml" {
		t.Fatalf("want one problem at the file, got %v", list)
	}
	list = CheckBackend(s, nil, Traits{RunsImages: true})
	if len(list) != 1 || list[0].Pos != "t.cleanroom.toml" {
		t.Fatalf("docker: want one problem at the file, got %v", list)
	}
}

package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend"
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

// restrictionCase is a suite and the exact problems CheckBackend must report
// for a backend with traits, in order, each "file:line:col: message".
type restrictionCase struct {
	name   string
	traits Traits
	suite  string // t.cleanroom.toml; noopScenario is appended without [[scenario]]
	want   []string
}

// What a backend's Restrictions say it cannot do is refused where the suite
// asks for it, at the position of the value that asked (a policy key, the
// preset that brought a limit in, a step's user, or a PostgreSQL service's
// header), naming the service or step and ending in the backend's reason.
// A backend without restrictions (root local, Docker) refuses none of it.
// Positions are of values, as the suite's other problems are: in
// `policy = { memory = "256MiB" }` the memory is at column 21.
func TestCheckBackendRestrictions(t *testing.T) {
	// The reasons are opaque to CheckBackend: it must append them as given.
	const whyLimits, whyUsers = "WHY", "WHY2"
	limits := Traits{Restrictions: backend.Restrictions{Limits: whyLimits}}
	users := Traits{Restrictions: backend.Restrictions{Users: whyUsers}}
	cases := []restrictionCase{
		// --- limits ---
		{
			name:   "limits: a service's memory limit, at its value",
			traits: limits,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { memory = "256MiB" }
`,
			want: []string{`t.cleanroom.toml:4:21: service "web": memory limit 256MiB: WHY`},
		},
		{
			name:   "limits: a service's cpu limit, at its value",
			traits: limits,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { cpus = 1 }
`,
			want: []string{`t.cleanroom.toml:4:19: service "web": cpu limit 1: WHY`},
		},
		{
			// Both limits, each at its own line, in a policy subtable;
			// memory is reported before cpus whatever the file's order.
			name:   "limits: memory and cpus in a policy table, each at its own value",
			traits: limits,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
[services.web.policy]
cpus = 0.5
memory = "1GiB"
`,
			want: []string{
				`t.cleanroom.toml:6:10: service "web": memory limit 1GiB: WHY`,
				`t.cleanroom.toml:5:8: service "web": cpu limit 0.5: WHY`,
			},
		},
		{
			// strict sets memory 512MiB and 1 CPU; no key names them, so
			// the preset that brought them in is where they are refused.
			name:   "limits: the strict preset on a service, at the preset",
			traits: limits,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { preset = "strict" }
`,
			want: []string{
				`t.cleanroom.toml:4:21: service "web": memory limit 512MiB: WHY`,
				`t.cleanroom.toml:4:21: service "web": cpu limit 1: WHY`,
			},
		},
		{
			// A suite-level preset reaches every container: the service's
			// and the one-shot step's (noopScenario), both at the suite's
			// preset; an explicit memory key beside it wins its position.
			name:   "limits: the suite's strict preset reaches services and one-shot steps",
			traits: limits,
			suite: `[policy]
preset = "strict"
[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { memory = "64MiB" }
`,
			want: []string{
				`t.cleanroom.toml:6:21: service "web": memory limit 64MiB: WHY`,
				`t.cleanroom.toml:2:10: service "web": cpu limit 1: WHY`,
				`t.cleanroom.toml:2:10: step "noop": memory limit 512MiB: WHY`,
				`t.cleanroom.toml:2:10: step "noop": cpu limit 1: WHY`,
			},
		},
		{
			name:   "limits: a one-shot step's memory limit names the step",
			traits: limits,
			suite: `[[scenario]]
name = "s"
[[scenario.step]]
name = "build it"
image = "busybox:latest"
exec = ["true"]
policy = { memory = "64MiB" }
`,
			want: []string{`t.cleanroom.toml:7:21: step "build it": memory limit 64MiB: WHY`},
		},
		{
			name:   "limits: an exec step in a service without limits: nothing",
			traits: limits,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
[[scenario]]
name = "s"
[[scenario.step]]
name = "in web"
service = "web"
exec = ["true"]
`,
		},
		{
			// The step runs in the service's container: its limit is the
			// service's, refused once, at the service's key, not again
			// for the step that inherits it.
			name:   "limits: an exec step in a limited service is not refused again",
			traits: limits,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { memory = "256MiB" }
[[scenario]]
name = "s"
[[scenario.step]]
name = "in web"
service = "web"
exec = ["true"]
`,
			want: []string{`t.cleanroom.toml:4:21: service "web": memory limit 256MiB: WHY`},
		},
		{
			// standard has a process limit only, which RLIMIT_NPROC
			// enforces without cgroups; pids set by hand likewise.
			name:   "limits: the standard preset and a pids limit: nothing",
			traits: limits,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { preset = "standard", pids = 64 }
[[scenario]]
name = "s"
[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["true"]
policy = { preset = "standard", pids = 8 }
`,
		},
		{
			// Limits alone restrict no user, and not PostgreSQL.
			name:   "limits: users and PostgreSQL are fine when only limits are restricted",
			traits: limits,
			suite: `[services.db]
type = "postgres"
[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { user = "nobody" }
`,
		},
		{
			// The restriction checks run for a backend with images too;
			// the service has an image so that nothing else is reported.
			name:   "limits: checked for a backend with images as well",
			traits: Traits{RunsImages: true, Restrictions: backend.Restrictions{Limits: whyLimits}},
			suite: `[services.web]
type = "generic"
image = "busybox:latest"
policy = { memory = "256MiB" }
`,
			want: []string{`t.cleanroom.toml:4:21: service "web": memory limit 256MiB: WHY`},
		},

		// --- users ---
		{
			// PostgreSQL refuses to run as root, whatever the suite says;
			// redis runs as root and is fine.
			name:   "users: a postgres service, at its header",
			traits: users,
			suite: `[services.cache]
type = "redis"
[services.db]
type = "postgres"
`,
			want: []string{`t.cleanroom.toml:3:1: service "db": PostgreSQL runs as its own user, postgres, never as root: WHY2`},
		},
		{
			name:   "users: a generic service's policy user, at its value",
			traits: users,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { user = "nobody" }
`,
			want: []string{`t.cleanroom.toml:4:19: service "web": user "nobody": WHY2`},
		},
		{
			// A numeric user other than 0 is as much another user as a name.
			name:   "users: a numeric user",
			traits: users,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { user = "1000:1000" }
`,
			want: []string{`t.cleanroom.toml:4:19: service "web": user "1000:1000": WHY2`},
		},
		{
			// "root" only as the whole name: a longer one is another user.
			name:   "users: a name that starts with root",
			traits: users,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { user = "rootless" }
`,
			want: []string{`t.cleanroom.toml:4:19: service "web": user "rootless": WHY2`},
		},
		{
			// The suite's user is every service's, at the suite's key.
			name:   "users: the suite's policy user reaches every service",
			traits: users,
			suite: `[policy]
user = "nobody"
[services.a]
type = "generic"
command = ["` + hostSh + `"]
[services.b]
type = "generic"
command = ["` + hostSh + `"]
[[scenario]]
name = "s"
[[scenario.step]]
name = "in a"
service = "a"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:2:8: service "a": user "nobody": WHY2`,
				`t.cleanroom.toml:2:8: service "b": user "nobody": WHY2`,
			},
		},
		{
			name:   "users: an exec step's user, at its value",
			traits: users,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
[[scenario]]
name = "s"
[[scenario.step]]
name = "as nobody"
service = "web"
exec = ["id"]
user = "nobody"
`,
			want: []string{`t.cleanroom.toml:10:8: step "as nobody": user "nobody": WHY2`},
		},
		{
			name:   "users: a one-shot step's user, at its value",
			traits: users,
			suite: `[[scenario]]
name = "s"
[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["id"]
user = "nobody"
`,
			want: []string{`t.cleanroom.toml:7:8: step "one-shot": user "nobody": WHY2`},
		},
		{
			// A one-shot container runs as its policy's user when the
			// step gives none (docs/format.md), so that user is refused
			// as a step's own user is.
			name:   "users: a one-shot step's policy user",
			traits: users,
			suite: `[[scenario]]
name = "s"
[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["id"]
policy = { user = "nobody" }
`,
			want: []string{`t.cleanroom.toml:7:19: step "one-shot": user "nobody": WHY2`},
		},
		{
			// Group 1000 is no more mapped than user 1000 is: the local
			// backend refuses any gid but 0 in a single-user namespace
			// (credential in backend/local/agent.go).
			name:   "users: root with another group",
			traits: users,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { user = "0:1000" }
`,
			want: []string{`t.cleanroom.toml:4:19: service "web": user "0:1000": WHY2`},
		},
	}
	// Every spelling of root is fine: on a service, on an exec step in a
	// service, and on a one-shot step.
	for _, u := range []string{"root", "0", "0:0", "root:root"} {
		cases = append(cases, restrictionCase{
			name:   "users: " + u + " is root",
			traits: users,
			suite: `[services.web]
type = "generic"
command = ["` + hostSh + `"]
policy = { user = "` + u + `" }
[[scenario]]
name = "s"
[[scenario.step]]
name = "in web"
service = "web"
exec = ["id"]
user = "` + u + `"
[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["id"]
user = "` + u + `"
`,
		})
	}
	// Without restrictions (a root local backend, or Docker), a suite that
	// asks for everything above is refused nothing.
	everything := `[policy]
preset = "strict"
user = "nobody"
[services.db]
type = "postgres"
[services.web]
type = "generic"
image = "busybox:latest"
command = ["` + hostSh + `"]
policy = { memory = "256MiB", cpus = 2, user = "1000:1000" }
[[scenario]]
name = "s"
[[scenario.step]]
name = "in web"
service = "web"
exec = ["id"]
user = "nobody"
[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["id"]
user = "nobody"
policy = { memory = "64MiB", cpus = 0.5 }
`
	cases = append(cases,
		restrictionCase{name: "no restrictions: local", traits: Traits{}, suite: everything},
		restrictionCase{name: "no restrictions: docker", traits: Traits{RunsImages: true}, suite: everything},
		// The control: the same suite does ask for all of it. Services
		// first, in file order, each its limits, its user, PostgreSQL;
		// then steps, each its limits (one-shots only), its user.
		restrictionCase{
			name:   "both restrictions: the same suite",
			traits: Traits{Restrictions: backend.Restrictions{Limits: whyLimits, Users: whyUsers}},
			suite:  everything,
			want: []string{
				`t.cleanroom.toml:2:10: service "db": memory limit 512MiB: WHY`,
				`t.cleanroom.toml:2:10: service "db": cpu limit 1: WHY`,
				`t.cleanroom.toml:3:8: service "db": user "nobody": WHY2`,
				`t.cleanroom.toml:4:1: service "db": PostgreSQL runs as its own user, postgres, never as root: WHY2`,
				`t.cleanroom.toml:10:21: service "web": memory limit 256MiB: WHY`,
				`t.cleanroom.toml:10:38: service "web": cpu limit 2: WHY`,
				`t.cleanroom.toml:10:48: service "web": user "1000:1000": WHY2`,
				`t.cleanroom.toml:17:8: step "in web": user "nobody": WHY2`,
				`t.cleanroom.toml:23:21: step "one-shot": memory limit 64MiB: WHY`,
				`t.cleanroom.toml:23:37: step "one-shot": cpu limit 0.5: WHY`,
				`t.cleanroom.toml:22:8: step "one-shot": user "nobody": WHY2`,
			},
		},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := c.suite
			if !strings.Contains(src, "[[scenario]]") {
				src += noopScenario
			}
			s, err := suite.Parse("t.cleanroom.toml", []byte(src))
			if err != nil {
				t.Fatalf("the suite must parse, got:\n%v\nsuite:\n%s", err, numbered(src))
			}
			var got []string
			for _, p := range CheckBackend(s, nil, c.traits) {
				got = append(got, p.Error())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("CheckBackend(%+v):\nexpected %d problem(s):\n  %s\ngot %d:\n  %s\nsuite:\n%s",
					c.traits, len(c.want), strings.Join(c.want, "\n  "), len(got), strings.Join(got, "\n  "), numbered(src))
			}
		})
	}

	// A policy without positions (built in Go, not read from a file) is
	// refused at its service, and without that either, at the file.
	t.Run("without positions", func(t *testing.T) {
		s, err := suite.Parse("t.cleanroom.toml", []byte(`[services.web]
type = "generic"
command = ["`+hostSh+`"]
policy = { memory = "256MiB", user = "nobody" }
`+noopScenario))
		if err != nil {
			t.Fatal(err)
		}
		svc := s.Service("web")
		svc.Policy.Layer.Pos = map[string]string{}
		both := Traits{Restrictions: backend.Restrictions{Limits: whyLimits, Users: whyUsers}}
		want := []string{
			`t.cleanroom.toml:1:1: service "web": memory limit 256MiB: WHY`,
			`t.cleanroom.toml:1:1: service "web": user "nobody": WHY2`,
		}
		for _, at := range []string{"the service", "the file"} {
			if at == "the file" {
				svc.Pos = suite.Pos{}
				for i := range want {
					want[i] = strings.Replace(want[i], "t.cleanroom.toml:1:1:", "t.cleanroom.toml:", 1)
				}
			}
			var got []string
			for _, p := range CheckBackend(s, nil, both) {
				got = append(got, p.Error())
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("at %s: got\n  %s\nwant\n  %s", at, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		}
	})
}

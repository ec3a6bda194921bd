package runner

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/suite"
)

// policyCheckCase is one suite (and optionally a project cleanroom.toml)
// and the exact problems CheckPolicies must report, in order.
type policyCheckCase struct {
	name    string
	suite   string // t.cleanroom.toml
	project string // cleanroom.toml; "" for none
	// modify changes the parsed suite, for a policy no file can express.
	modify func(*suite.Suite)
	want   []string
}

// policyProblems parses the case's files and returns what CheckPolicies
// says, one problem a line.
func policyProblems(t *testing.T, c policyCheckCase) []string {
	t.Helper()
	s, err := suite.Parse("t.cleanroom.toml", []byte(c.suite))
	if err != nil {
		t.Fatalf("the suite must parse, got:\n%v\nsuite:\n%s", err, numbered(c.suite))
	}
	var project *suite.Policy
	if c.project != "" {
		project, err = suite.ParseProjectPolicy("cleanroom.toml", []byte(c.project))
		if err != nil {
			t.Fatalf("the project file must parse, got:\n%v\nfile:\n%s", err, numbered(c.project))
		}
	}
	if c.modify != nil {
		c.modify(s)
	}
	err = CheckPolicies([]*suite.Suite{s}, project)
	if err == nil {
		return nil
	}
	var list errs.ValidationErrors
	if !errors.As(err, &list) {
		t.Fatalf("CheckPolicies: expected errs.ValidationErrors, got %T: %v", err, err)
	}
	var ve *errs.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("CheckPolicies: expected errors.As to find a *errs.ValidationError in %v", err)
	}
	return strings.Split(err.Error(), "\n")
}

// numbered shows a text with line numbers, to read positions against.
func numbered(src string) string {
	var b strings.Builder
	for i, line := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%3d | %s\n", i+1, line)
	}
	return b.String()
}

func runPolicyCases(t *testing.T, cases []policyCheckCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := policyProblems(t, c)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("CheckPolicies:\nexpected %d problem(s):\n  %s\ngot %d:\n  %s\nsuite:\n%s",
					len(c.want), strings.Join(c.want, "\n  "), len(got), strings.Join(got, "\n  "), numbered(c.suite))
			}
		})
	}
}

// ruleSuite is a suite that requires rule, with a generic service and a
// one-shot exec step; each policy argument is the body of an inline table
// (suite's, service's, step's) and may be empty. Lines are fixed:
// require's rule is at 2:12, the service at 5:1, the step at 14:1.
func ruleSuite(rule, suitePolicy, servicePolicy, stepPolicy string) string {
	return fmt.Sprintf(`[policy]
require = [%q]
%s

[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { %s }

[[scenario]]
name = "s"

[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["true"]
policy = { %s }
`, rule, suitePolicy, servicePolicy, stepPolicy)
}

// ruleViolated is what a rule's violation by the service and by the step of
// ruleSuite reads like.
func ruleViolated(rule, message string) []string {
	return []string{
		fmt.Sprintf(`t.cleanroom.toml:2:12: compliance rule %s: service "web" breaks it: %s (t.cleanroom.toml:5:1)`, rule, message),
		fmt.Sprintf(`t.cleanroom.toml:2:12: compliance rule %s: step "one-shot" of scenario "s" (a one-shot container) breaks it: %s (t.cleanroom.toml:14:1)`, rule, message),
	}
}

func TestCheckPoliciesComplianceRules(t *testing.T) {
	runPolicyCases(t, []policyCheckCase{
		{
			name:  "read_only_rootfs violated",
			suite: ruleSuite("read_only_rootfs", "", "", ""),
			want:  ruleViolated("read_only_rootfs", "its root file system is writable (set read_only_rootfs = true)"),
		},
		{
			name:  "read_only_rootfs satisfied by the suite",
			suite: ruleSuite("read_only_rootfs", "read_only_rootfs = true", "", ""),
		},
		{
			name:  "read_only_rootfs satisfied by the service and the step",
			suite: ruleSuite("read_only_rootfs", "", "read_only_rootfs = true", "read_only_rootfs = true"),
		},
		{
			name:  "read_only_rootfs turned off by the service and the step under strict",
			suite: ruleSuite("read_only_rootfs", `preset = "strict"`, "read_only_rootfs = false", "read_only_rootfs = false"),
			want:  ruleViolated("read_only_rootfs", "its root file system is writable (set read_only_rootfs = true)"),
		},
		{
			name:  "no_egress violated",
			suite: ruleSuite("no_egress", "", `network = "bridge"`, `network = "bridge"`),
			want:  ruleViolated("no_egress", `its network is "bridge", which has a route out (use "isolated" or "none")`),
		},
		{
			name:  "no_egress satisfied",
			suite: ruleSuite("no_egress", `network = "bridge"`, `network = "isolated"`, `network = "none"`),
		},
		{
			name:  "non_root violated: the image's user",
			suite: ruleSuite("non_root", "", "", ""),
			want:  ruleViolated("non_root", "it runs as the image's default user, which may be root (set user to a non-root user)"),
		},
		{
			name:  "non_root violated: root by name and by UID",
			suite: ruleSuite("non_root", `user = "65534"`, `user = "root"`, `user = "0:0"`),
			want: []string{
				`t.cleanroom.toml:2:12: compliance rule non_root: service "web" breaks it: it runs as "root" (set user to a non-root user) (t.cleanroom.toml:5:1)`,
				`t.cleanroom.toml:2:12: compliance rule non_root: step "one-shot" of scenario "s" (a one-shot container) breaks it: it runs as "0:0" (set user to a non-root user) (t.cleanroom.toml:14:1)`,
			},
		},
		{
			name:  "non_root satisfied",
			suite: ruleSuite("non_root", `user = "65534"`, "", `user = "1000:1000"`),
		},
		{
			name:  "memory_limit violated",
			suite: ruleSuite("memory_limit", "", "", ""),
			want:  ruleViolated("memory_limit", "it has no memory limit (set memory)"),
		},
		{
			name:  "memory_limit satisfied by a service's own preset only",
			suite: ruleSuite("memory_limit", "", `preset = "strict"`, ""),
			want: []string{
				`t.cleanroom.toml:2:12: compliance rule memory_limit: step "one-shot" of scenario "s" (a one-shot container) breaks it: it has no memory limit (set memory) (t.cleanroom.toml:14:1)`,
			},
		},
		{
			name:  "memory_limit satisfied",
			suite: ruleSuite("memory_limit", `memory = "64MiB"`, "", ""),
		},
		{
			name:  "cpu_limit violated",
			suite: ruleSuite("cpu_limit", "", "", ""),
			want:  ruleViolated("cpu_limit", "it has no CPU limit (set cpus)"),
		},
		{
			name:  "cpu_limit satisfied",
			suite: ruleSuite("cpu_limit", "", "cpus = 0.5", "cpus = 2"),
		},
		{
			// pids must be positive in a file, and both presets set one,
			// so only a policy built in Go can break this rule.
			name:  "pids_limit violated",
			suite: ruleSuite("pids_limit", "", "", ""),
			modify: func(s *suite.Suite) {
				zero := int64(0)
				s.Policy.Layer.Pids = &zero
			},
			want: ruleViolated("pids_limit", "it has no process limit (set pids)"),
		},
		{
			name:  "pids_limit satisfied",
			suite: ruleSuite("pids_limit", "", "pids = 64", ""),
		},
		{
			name:  "no_capabilities violated: the engine's defaults",
			suite: ruleSuite("no_capabilities", "", "", ""),
			want:  ruleViolated("no_capabilities", `it keeps the engine's default capabilities (set cap_drop = ["ALL"])`),
		},
		{
			name:  "no_capabilities violated: capabilities added",
			suite: ruleSuite("no_capabilities", `cap_drop = ["ALL"]`, `cap_add = ["NET_BIND_SERVICE"]`, `cap_add = ["cap_chown", "SETUID"]`),
			want: []string{
				`t.cleanroom.toml:2:12: compliance rule no_capabilities: service "web" breaks it: it adds capabilities NET_BIND_SERVICE (t.cleanroom.toml:5:1)`,
				`t.cleanroom.toml:2:12: compliance rule no_capabilities: step "one-shot" of scenario "s" (a one-shot container) breaks it: it adds capabilities CHOWN, SETUID (t.cleanroom.toml:14:1)`,
			},
		},
		{
			name:  "no_capabilities satisfied",
			suite: ruleSuite("no_capabilities", `cap_drop = ["all"]`, "", ""),
		},
		{
			name:  "no_new_privileges violated",
			suite: ruleSuite("no_new_privileges", "", "no_new_privileges = false", "no_new_privileges = false"),
			want:  ruleViolated("no_new_privileges", "no_new_privileges is off"),
		},
		{
			name:  "no_new_privileges satisfied",
			suite: ruleSuite("no_new_privileges", "no_new_privileges = false", "no_new_privileges = true", "no_new_privileges = true"),
		},
	})
}

func TestCheckPoliciesOnlyOneShotStepsAreContainers(t *testing.T) {
	// Steps that run in a service's container, or run no process, are not
	// containers of their own: only the service is checked.
	runPolicyCases(t, []policyCheckCase{{
		name: "exec in a service, sql, redis and http steps",
		suite: `[policy]
require = ["memory_limit"]

[services.db]
type = "postgres"
policy = { memory = "64MiB" }

[services.cache]
type = "redis"
policy = { memory = "64MiB" }

[services.web]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080"]
ports = [8080]

[[scenario]]
name = "s"

[[scenario.step]]
name = "exec"
service = "web"
exec = ["true"]

[[scenario.step]]
name = "sql"
service = "db"
sql = "SELECT 1"

[[scenario.step]]
name = "redis"
service = "cache"
redis = ["PING"]

[[scenario.step]]
name = "http"
http = { service = "web", path = "/" }
`,
		want: []string{
			`t.cleanroom.toml:2:12: compliance rule memory_limit: service "web" breaks it: it has no memory limit (set memory) (t.cleanroom.toml:12:1)`,
		},
	}})
}

func TestCheckPoliciesProjectRequire(t *testing.T) {
	project := `[images]
"busybox:latest" = "registry.example/busybox:latest"

[policy]
require = ["memory_limit", "no_egress"]
memory = "128MiB"
`
	runPolicyCases(t, []policyCheckCase{
		{
			name:    "the project's rules apply to the suite, its memory satisfies one",
			project: project,
			suite:   ruleSuite("no_new_privileges", `network = "bridge"`, "", `memory = "64MiB"`),
			want: []string{
				`cleanroom.toml:5:28: compliance rule no_egress: service "web" breaks it: its network is "bridge", which has a route out (use "isolated" or "none") (t.cleanroom.toml:5:1)`,
				`cleanroom.toml:5:28: compliance rule no_egress: step "one-shot" of scenario "s" (a one-shot container) breaks it: its network is "bridge", which has a route out (use "isolated" or "none") (t.cleanroom.toml:14:1)`,
			},
		},
		{
			name: "project rules and the suite's together",
			project: `[policy]
require = ["memory_limit"]
`,
			suite: ruleSuite("cpu_limit", "", "", `memory = "64MiB"`),
			want: []string{
				`cleanroom.toml:2:12: compliance rule memory_limit: service "web" breaks it: it has no memory limit (set memory) (t.cleanroom.toml:5:1)`,
				`t.cleanroom.toml:2:12: compliance rule cpu_limit: service "web" breaks it: it has no CPU limit (set cpus) (t.cleanroom.toml:5:1)`,
				`t.cleanroom.toml:2:12: compliance rule cpu_limit: step "one-shot" of scenario "s" (a one-shot container) breaks it: it has no CPU limit (set cpus) (t.cleanroom.toml:14:1)`,
			},
		},
		{
			name: "the suite overrides the project's values, not its rules",
			project: `[policy]
require = ["read_only_rootfs"]
read_only_rootfs = true
`,
			suite: ruleSuite("pids_limit", "read_only_rootfs = false", "", ""),
			want: []string{
				`cleanroom.toml:2:12: compliance rule read_only_rootfs: service "web" breaks it: its root file system is writable (set read_only_rootfs = true) (t.cleanroom.toml:5:1)`,
				`cleanroom.toml:2:12: compliance rule read_only_rootfs: step "one-shot" of scenario "s" (a one-shot container) breaks it: its root file system is writable (set read_only_rootfs = true) (t.cleanroom.toml:14:1)`,
			},
		},
		{
			name:    "a project file without [policy]",
			project: "[images]\n\"busybox:latest\" = \"registry.example/busybox:latest\"\n",
			suite:   ruleSuite("no_egress", "", "", ""),
		},
	})
}

func TestCheckPoliciesMinimumMemory(t *testing.T) {
	services := func(pg, rd string) string {
		return fmt.Sprintf(`[services.db]
type = "postgres"
policy = { memory = %q }

[services.cache]
type = "redis"
policy = { memory = %q }

[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { memory = "6MiB" }

[[scenario]]
[[scenario.step]]
service = "db"
sql = "SELECT 1"
`, pg, rd)
	}
	runPolicyCases(t, []policyCheckCase{
		{
			name:  "below the minimum",
			suite: services("32MiB", "7MiB"),
			want: []string{
				`t.cleanroom.toml:3:21: service "db": a memory limit of 32MiB is below the 48MiB a postgres server needs to start`,
				`t.cleanroom.toml:7:21: service "cache": a memory limit of 7MiB is below the 8MiB a redis server needs to start`,
			},
		},
		{
			name:  "at the minimum",
			suite: services("48MiB", "8MiB"),
		},
		{
			name:  "a size in other units",
			suite: services("49151KiB", "8191KiB"),
			want: []string{
				`t.cleanroom.toml:3:21: service "db": a memory limit of 49151KiB is below the 48MiB a postgres server needs to start`,
				`t.cleanroom.toml:7:21: service "cache": a memory limit of 8191KiB is below the 8MiB a redis server needs to start`,
			},
		},
		{
			name: "a limit set for the whole suite points at the suite's policy",
			suite: `[policy]
memory = "16MiB"

[services.db]
type = "postgres"

[services.cache]
type = "redis"

[[scenario]]
[[scenario.step]]
service = "db"
sql = "SELECT 1"
`,
			want: []string{
				`t.cleanroom.toml:2:10: service "db": a memory limit of 16MiB is below the 48MiB a postgres server needs to start`,
			},
		},
		{
			name: "a service's preset puts back its own memory over the suite's",
			suite: `[policy]
memory = "16MiB"

[services.db]
type = "postgres"
policy = { preset = "strict" }

[services.cache]
type = "redis"
policy = { preset = "standard", memory = "7MiB" }

[[scenario]]
[[scenario.step]]
service = "db"
sql = "SELECT 1"
`,
			want: []string{
				`t.cleanroom.toml:10:42: service "cache": a memory limit of 7MiB is below the 8MiB a redis server needs to start`,
			},
		},
		{
			name:    "a limit set by the project points at cleanroom.toml",
			project: "[policy]\nmemory = \"40MiB\"\n",
			suite: `[services.db]
type = "postgres"

[[scenario]]
[[scenario.step]]
service = "db"
sql = "SELECT 1"
`,
			want: []string{
				`cleanroom.toml:2:10: service "db": a memory limit of 40MiB is below the 48MiB a postgres server needs to start`,
			},
		},
	})
}

func TestCheckPoliciesNetworkNone(t *testing.T) {
	runPolicyCases(t, []policyCheckCase{
		{
			name: "a service another depends on",
			suite: `[services.queue]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { network = "none" }

[services.api]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
depends_on = ["queue"]

[services.worker]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
depends_on = ["queue"]

[[scenario]]
[[scenario.step]]
service = "api"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:5:22: service "queue" has network "none", but service "api" depends on it and could not reach it`,
				`t.cleanroom.toml:5:22: service "queue" has network "none", but service "worker" depends on it and could not reach it`,
			},
		},
		{
			name: "a dependency on none, the dependent on none too",
			suite: `[policy]
network = "none"

[services.queue]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]

[services.api]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
depends_on = ["queue"]

[[scenario]]
[[scenario.step]]
service = "api"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:2:11: service "queue" has network "none", but service "api" depends on it and could not reach it`,
			},
		},
		{
			name: "a service the runner reaches over its port",
			suite: `[services.db]
type = "postgres"
policy = { network = "none" }

[services.cache]
type = "redis"
policy = { network = "none" }

[services.web]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080"]
ports = [8080]
policy = { network = "none" }

[services.box]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { network = "none" }

[[scenario]]
[[scenario.step]]
service = "box"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:3:22: service "db" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
				`t.cleanroom.toml:7:22: service "cache" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
				`t.cleanroom.toml:14:22: service "web" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
			},
		},
		{
			name: "a wait check over the network",
			suite: `[services.a]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080"]
ports = [8080]
wait = { port = 8080 }
policy = { network = "none" }

[services.b]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080"]
ports = [8080]
wait = { http = "/", port = 8080 }
policy = { network = "none" }

[services.c]
type = "generic"
image = "busybox:latest"
command = ["sh", "-c", "echo ready; sleep 1000"]
wait = { log = "ready" }
policy = { network = "none" }

[[scenario]]
[[scenario.step]]
service = "c"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:7:22: service "a" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
				`t.cleanroom.toml:7:22: service "a" has network "none", so its wait check over the network could never pass; wait with log or exec instead`,
				`t.cleanroom.toml:15:22: service "b" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
				`t.cleanroom.toml:15:22: service "b" has network "none", so its wait check over the network could never pass; wait with log or exec instead`,
			},
		},
		{
			name: "steps that reach a service over the network",
			suite: `[services.db]
type = "postgres"
policy = { network = "none" }

[services.cache]
type = "redis"
policy = { network = "none" }

[services.web]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080"]
ports = [8080]
policy = { network = "none" }

[[scenario]]
name = "s"

[[scenario.step]]
name = "query"
service = "db"
sql = "SELECT 1"

[[scenario.step]]
name = "ping"
service = "cache"
redis = ["PING"]

[[scenario.step]]
name = "page"
http = { service = "web", path = "/" }

[[scenario.step]]
name = "inside"
service = "web"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:3:22: service "db" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
				`t.cleanroom.toml:7:22: service "cache" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
				`t.cleanroom.toml:14:22: service "web" has network "none", so the runner could not reach its port; only a generic service without ports can run without a network`,
				`t.cleanroom.toml:19:1: step "query" of scenario "s": sql step cannot reach service "db", which has network "none"`,
				`t.cleanroom.toml:24:1: step "ping" of scenario "s": redis step cannot reach service "cache", which has network "none"`,
				`t.cleanroom.toml:29:1: step "page" of scenario "s": http step cannot reach service "web", which has network "none"`,
			},
		},
		{
			name: "isolated services are reachable; a one-shot or a portless service may have none",
			suite: `[services.db]
type = "postgres"

[services.api]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080"]
ports = [8080]
depends_on = ["db"]
wait = { http = "/", port = 8080 }

[services.box]
type = "generic"
image = "busybox:latest"
command = ["sh", "-c", "echo ready; sleep 1000"]
wait = { log = "ready" }
policy = { network = "none" }

[[scenario]]
[[scenario.step]]
service = "db"
sql = "SELECT 1"

[[scenario.step]]
http = { service = "api" }

[[scenario.step]]
service = "box"
exec = ["true"]

[[scenario.step]]
image = "busybox:latest"
exec = ["true"]
policy = { network = "none" }
`,
		},
	})
}

func TestCheckPoliciesTimeouts(t *testing.T) {
	runPolicyCases(t, []policyCheckCase{
		{
			name: "step timeout above the suite's step_timeout",
			suite: `[policy]
step_timeout = "30s"

[[scenario]]
name = "s"

[[scenario.step]]
name = "slow"
image = "busybox:latest"
exec = ["true"]
timeout = "45s"

[[scenario.step]]
name = "quick"
image = "busybox:latest"
exec = ["true"]
timeout = "30s"

[[scenario.step]]
name = "default"
image = "busybox:latest"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:11:11: step "slow" of scenario "s": timeout 45s is longer than the policy's step_timeout 30s (t.cleanroom.toml:2:16)`,
			},
		},
		{
			name:    "step_timeout from the project, from a service and from the step itself",
			project: "[policy]\nstep_timeout = \"10s\"\n",
			suite: `[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { step_timeout = "5s" }

[[scenario]]
name = "s"

[[scenario.step]]
name = "one-shot"
image = "busybox:latest"
exec = ["true"]
timeout = "20s"

[[scenario.step]]
name = "in web"
service = "web"
exec = ["true"]
timeout = "6s"

[[scenario.step]]
name = "own"
service = "web"
exec = ["true"]
timeout = "2m"
policy = { step_timeout = "1m" }
`,
			want: []string{
				`t.cleanroom.toml:14:11: step "one-shot" of scenario "s": timeout 20s is longer than the policy's step_timeout 10s (cleanroom.toml:2:16)`,
				`t.cleanroom.toml:20:11: step "in web" of scenario "s": timeout 6s is longer than the policy's step_timeout 5s (t.cleanroom.toml:5:27)`,
				`t.cleanroom.toml:26:11: step "own" of scenario "s": timeout 2m0s is longer than the policy's step_timeout 1m0s (t.cleanroom.toml:27:27)`,
			},
		},
		{
			name: "suite timeout above suite_timeout",
			suite: `timeout = "20m"

[policy]
suite_timeout = "10m"

[[scenario]]
[[scenario.step]]
image = "busybox:latest"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:1:11: timeout 20m0s is longer than the policy's suite_timeout 10m0s (t.cleanroom.toml:4:17)`,
			},
		},
		{
			name:    "suite timeout above the project's suite_timeout",
			project: "[policy]\nsuite_timeout = \"5m\"\n",
			suite: `timeout = "6m"

[[scenario]]
[[scenario.step]]
image = "busybox:latest"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:1:11: timeout 6m0s is longer than the policy's suite_timeout 5m0s (cleanroom.toml:2:17)`,
			},
		},
		{
			name: "suite timeout within suite_timeout, or none",
			suite: `timeout = "10m"

[policy]
suite_timeout = "10m"
step_timeout = "1m"

[[scenario]]
[[scenario.step]]
image = "busybox:latest"
exec = ["true"]
timeout = "1m"
`,
		},
	})
}

func TestCheckPoliciesMaxMemory(t *testing.T) {
	runPolicyCases(t, []policyCheckCase{
		{
			name: "a one-shot step's max_memory above its memory",
			suite: `[[scenario]]
name = "s"

[[scenario.step]]
name = "hog"
image = "busybox:latest"
exec = ["true"]
policy = { memory = "64MiB", max_memory = "128MiB" }
`,
			want: []string{
				`t.cleanroom.toml:8:43: step "hog" of scenario "s": max_memory 128MiB is above the memory limit 64MiB, so it could never trip`,
			},
		},
		{
			name: "a service's max_memory above strict's memory",
			suite: `[policy]
preset = "strict"

[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { max_memory = "1GiB" }

[[scenario]]
name = "s"

[[scenario.step]]
name = "hog"
image = "busybox:latest"
exec = ["true"]
`,
			want: []string{
				`t.cleanroom.toml:8:25: service "web": max_memory 1GiB is above the memory limit 512MiB, so it could never trip`,
			},
		},
		{
			name: "max_memory within memory, or without a memory limit",
			suite: `[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { memory = "64MiB", max_memory = "64MiB" }

[[scenario]]
[[scenario.step]]
image = "busybox:latest"
exec = ["true"]
policy = { max_memory = "1GiB" }
`,
		},
	})
}

// strictSuite is a suite under strict with a postgres service, requiring
// rules (a TOML list body).
func strictSuite(require string) string {
	return fmt.Sprintf(`[policy]
preset = "strict"
require = [%s]

[services.db]
type = "postgres"

[[scenario]]
[[scenario.step]]
service = "db"
sql = "SELECT 1"
`, require)
}

func TestCheckPoliciesStrictPostgres(t *testing.T) {
	runPolicyCases(t, []policyCheckCase{
		{
			// strict drops every capability and makes the root read-only;
			// postgres is granted what it needs and passes.
			name:  "strict, locked down, passes",
			suite: strictSuite(`"read_only_rootfs", "no_egress", "memory_limit", "no_new_privileges"`),
		},
		{
			name:  "no_capabilities fails: postgres is granted capabilities",
			suite: strictSuite(`"read_only_rootfs", "no_egress", "memory_limit", "no_new_privileges", "no_capabilities"`),
			want: []string{
				`t.cleanroom.toml:3:82: compliance rule no_capabilities: service "db" breaks it: it adds capabilities CHOWN, DAC_OVERRIDE, FOWNER, SETGID, SETUID (t.cleanroom.toml:5:1)`,
			},
		},
	})
}

func TestCheckPoliciesSeveralSuites(t *testing.T) {
	var suites []*suite.Suite
	for _, name := range []string{"a", "b"} {
		s, err := suite.Parse(name+".cleanroom.toml", []byte(ruleSuite("memory_limit", "", "", `memory = "64MiB"`)))
		if err != nil {
			t.Fatal(err)
		}
		suites = append(suites, s)
	}
	want := []string{
		`a.cleanroom.toml:2:12: compliance rule memory_limit: service "web" breaks it: it has no memory limit (set memory) (a.cleanroom.toml:5:1)`,
		`b.cleanroom.toml:2:12: compliance rule memory_limit: service "web" breaks it: it has no memory limit (set memory) (b.cleanroom.toml:5:1)`,
	}
	err := CheckPolicies(suites, nil)
	if err == nil {
		t.Fatalf("CheckPolicies: expected %q, got no error", want)
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("CheckPolicies:\nexpected %s\n     got %s", strings.Join(want, "\n"), got)
	}
	if err := CheckPolicies(nil, nil); err != nil {
		t.Errorf("CheckPolicies of no suites: expected no error, got %v", err)
	}
}

func TestCheckPoliciesReportsEachProblemOnce(t *testing.T) {
	runPolicyCases(t, []policyCheckCase{
		{
			name: "a service's max_memory, steps in and against it",
			suite: `[services.web]
type = "generic"
image = "busybox:latest"
command = ["httpd", "-f", "-p", "8080"]
ports = [8080]
policy = { memory = "64MiB", max_memory = "128MiB" }

[[scenario]]
name = "s"

[[scenario.step]]
name = "in web"
service = "web"
exec = ["true"]

[[scenario.step]]
name = "page"
http = { service = "web" }
`,
			want: []string{
				`t.cleanroom.toml:6:43: service "web": max_memory 128MiB is above the memory limit 64MiB, so it could never trip`,
			},
		},
		{
			name:    "a rule required twice",
			project: "[policy]\nrequire = [\"memory_limit\"]\n",
			suite:   ruleSuite("memory_limit", "", "", `memory = "64MiB"`),
			want: []string{
				`cleanroom.toml:2:12: compliance rule memory_limit: service "web" breaks it: it has no memory limit (set memory) (t.cleanroom.toml:5:1)`,
			},
		},
	})
}

func TestCheckPoliciesStepPresetInAService(t *testing.T) {
	src := `[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]
policy = { memory = "64MiB" }

[[scenario]]
name = "s"

[[scenario.step]]
name = "in web"
service = "web"
exec = ["true"]
policy = { preset = "strict", max_memory = "256MiB" }
`
	// A step in a service runs under the service's container: a preset
	// there would describe a container that does not exist, so the loader
	// refuses it where it is written.
	_, err := suite.Parse("t.cleanroom.toml", []byte(src))
	want := `t.cleanroom.toml:14:21: "preset" configures a container, and this step runs in service "web", which is already running: set it in [services.web.policy]`
	if err == nil || err.Error() != want {
		t.Errorf("Parse:\nexpected %s\n     got %v", want, err)
	}
}

func TestCheckPoliciesStepUser(t *testing.T) {
	// A one-shot container runs as the step's user when it gives one, and
	// an exec in a service runs as it: non_root judges that user.
	runPolicyCases(t, []policyCheckCase{
		{
			name: "a one-shot step's user is root, over a non-root policy",
			suite: `[policy]
require = ["non_root"]
user = "65534"

[[scenario]]
name = "s"

[[scenario.step]]
name = "as root"
image = "busybox:latest"
user = "root"
exec = ["id", "-u"]
`,
			want: []string{
				`t.cleanroom.toml:2:12: compliance rule non_root: step "as root" of scenario "s" (a one-shot container) breaks it: it runs as "root" (set user to a non-root user) (t.cleanroom.toml:8:1)`,
			},
		},
		{
			name: "a one-shot step's user is not root, without a policy user",
			suite: `[policy]
require = ["non_root"]

[[scenario]]
name = "s"

[[scenario.step]]
name = "as 1000"
image = "busybox:latest"
user = "1000"
exec = ["id", "-u"]
`,
		},
		{
			name: "an exec as root in a non-root service",
			suite: `[policy]
require = ["non_root"]
user = "65534"

[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]

[[scenario]]
name = "s"

[[scenario.step]]
name = "as root"
service = "web"
user = "root"
exec = ["id", "-u"]

[[scenario.step]]
name = "as uid 0"
service = "web"
user = "0:0"
exec = ["id", "-u"]

[[scenario.step]]
name = "as 1000"
service = "web"
user = "1000"
exec = ["id", "-u"]

[[scenario.step]]
name = "as the service's user"
service = "web"
exec = ["id", "-u"]
`,
			want: []string{
				`t.cleanroom.toml:2:12: compliance rule non_root: step "as root" of scenario "s" runs as "root" in service "web" (t.cleanroom.toml:16:8)`,
				`t.cleanroom.toml:2:12: compliance rule non_root: step "as uid 0" of scenario "s" runs as "0:0" in service "web" (t.cleanroom.toml:22:8)`,
			},
		},
		{
			name: "an exec as root, no rule required",
			suite: `[policy]
user = "65534"

[services.web]
type = "generic"
image = "busybox:latest"
command = ["sleep", "1000"]

[[scenario]]
[[scenario.step]]
service = "web"
user = "root"
exec = ["id", "-u"]
`,
		},
	})
}

func TestStepTimeout(t *testing.T) {
	set := suite.Pos{File: "t.cleanroom.toml", Line: 9, Col: 11}
	tests := []struct {
		name    string
		timeout suite.Field[time.Duration]
		policy  time.Duration // step_timeout; 0 for none
		want    time.Duration
	}{
		{"the default", suite.Field[time.Duration]{Value: suite.DefaultStepTimeout}, 0, suite.DefaultStepTimeout},
		{"step_timeout shortens the default", suite.Field[time.Duration]{Value: suite.DefaultStepTimeout}, 20 * time.Second, 20 * time.Second},
		{"step_timeout longer than the default does not lengthen it", suite.Field[time.Duration]{Value: suite.DefaultStepTimeout}, 5 * time.Minute, suite.DefaultStepTimeout},
		{"the step's own, shorter than step_timeout", suite.Field[time.Duration]{Value: 5 * time.Second, Pos: set}, 20 * time.Second, 5 * time.Second},
		{"the step's own wins over step_timeout", suite.Field[time.Duration]{Value: 2 * time.Minute, Pos: set}, 20 * time.Second, 2 * time.Minute},
		{"the step's own, longer than the default", suite.Field[time.Duration]{Value: 10 * time.Minute, Pos: set}, 0, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &suite.Step{Timeout: tt.timeout}
			e := policy.Resolve(&policy.Layer{StepTimeout: &tt.policy})
			if tt.policy == 0 {
				e = policy.Resolve()
			}
			if got := stepTimeout(st, e); got != tt.want {
				t.Errorf("stepTimeout: expected %s, got %s", tt.want, got)
			}
		})
	}
}

func TestStepTimeoutFromParsedSuite(t *testing.T) {
	s, err := suite.Parse("t.cleanroom.toml", []byte(`[policy]
step_timeout = "20s"

[[scenario]]
[[scenario.step]]
name = "default"
image = "busybox:latest"
exec = ["true"]

[[scenario.step]]
name = "own"
image = "busybox:latest"
exec = ["true"]
timeout = "5s"
policy = { step_timeout = "1m" }
`))
	if err != nil {
		t.Fatal(err)
	}
	ps := resolvePolicies(s, nil)
	want := map[string]time.Duration{"default": 20 * time.Second, "own": 5 * time.Second}
	for _, st := range s.Scenarios[0].Steps {
		if got := stepTimeout(st, ps.steps[st]); got != want[st.Name.Value] {
			t.Errorf("step %q: expected a timeout of %s, got %s", st.Name.Value, want[st.Name.Value], got)
		}
	}
}

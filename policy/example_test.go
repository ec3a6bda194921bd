package policy_test

import (
	"fmt"

	"github.com/cleanroomhq/cleanroom/policy"
)

// A suite's [policy] over the project's: the suite keeps the project's
// preset, overrides its memory, and adds a secret to the project's.
func ExampleResolve() {
	strict := "strict"
	projectMemory, suiteMemory := int64(256<<20), int64(1<<30)
	project := &policy.Layer{
		Preset:  &strict,
		Memory:  &projectMemory,
		Secrets: []string{"REGISTRY_TOKEN"},
		Pos:     map[string]string{"preset": "cleanroom.toml:2:10", "memory": "cleanroom.toml:3:10", "secrets": "cleanroom.toml:4:11"},
	}
	suite := &policy.Layer{
		Memory:  &suiteMemory,
		Secrets: []string{"API_TOKEN"},
		Pos:     map[string]string{"memory": "api.cleanroom.toml:5:10", "secrets": "api.cleanroom.toml:6:11"},
	}

	e := policy.Resolve(project, suite)
	fmt.Println("preset:", e.Preset, "from", e.Origin["preset"])
	fmt.Println("memory:", policy.FormatSize(e.Memory), "from", e.Origin["memory"])
	fmt.Println("secrets:", e.Secrets)
	_, set := e.Origin["pids"]
	fmt.Println("pids:", e.Pids, "from a layer:", set)
	// Output:
	// preset: strict from cleanroom.toml:2:10
	// memory: 1GiB from api.cleanroom.toml:5:10
	// secrets: [API_TOKEN REGISTRY_TOKEN]
	// pids: 256 from a layer: false
}

func ExamplePreset() {
	for _, name := range policy.Presets() {
		p, _ := policy.Preset(name)
		fmt.Printf("%s: %s\n", name, p.Describe())
	}
	// Output:
	// standard: isolated, pids 4096
	// strict: isolated, read-only, cap_drop ALL, memory 512MiB, cpus 1, pids 256
}

// The strict preset meets every rule but non_root: which user an image may
// run as is the suite's to say.
func ExampleCheck() {
	p, _ := policy.Preset(policy.Strict)
	for _, v := range policy.Check(p, []string{"read_only_rootfs", "no_capabilities", "non_root"}) {
		fmt.Printf("%s: %s\n", v.Rule, v.Message)
	}

	p.User = "65534"
	fmt.Println("with a user:", len(policy.Check(p, policy.RuleNames())), "violations")
	// Output:
	// non_root: it runs as the image's default user, which may be root (set user to a non-root user)
	// with a user: 0 violations
}

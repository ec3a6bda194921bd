package cleanroom_test

import (
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/service/postgres"
)

// The Go API runs every container under a policy: the project's, over the
// standard preset, unless WithPolicy or the spec names another. The engine
// enforces it (checked here on the engine's own record of the container),
// and a kind's needs are granted so that PostgreSQL still starts strict.
func TestPolicyThroughTheGoAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	strict, _ := policy.Preset(policy.Strict)
	env := newEnv(t, cleanroom.WithPolicy(strict))
	insts, err := env.Start(t.Context(), sleeper("box"), postgres.Spec("db"))
	if err != nil {
		t.Fatal(err)
	}
	box, db := insts[0], insts[1]

	c, _ := inspect(t, engine(t), box.Container.ID())
	hc := c.HostConfig
	if !hc.ReadonlyRootfs || hc.Memory != 512<<20 || hc.MemorySwap != 512<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 256 ||
		hc.NanoCPUs != 1e9 || len(hc.CapDrop) != 1 || hc.CapDrop[0] != "ALL" || !strings.Contains(strings.Join(hc.SecurityOpt, ","), "no-new-privileges") {
		t.Errorf("engine settings of a strict container: %+v", hc)
	}
	res, err := box.Container.Exec(t.Context(), backend.ExecSpec{Cmd: []string{"grep", "CapEff", "/proc/self/status"}})
	if err != nil || !strings.Contains(string(res.Stdout), "0000000000000000") {
		t.Errorf("CapEff of a process in it: %q (%v), want none", res.Stdout, err)
	}

	// PostgreSQL got what its image needs, and the instance says so.
	if got := db.Policy.CapAdd; len(got) != len(postgres.Needs.Caps) {
		t.Errorf("postgres under strict: cap_add %v, want %v", got, postgres.Needs.Caps)
	}
	if _, ok := db.Policy.Tmpfs["/var/run/postgresql"]; !ok {
		t.Errorf("postgres under strict: tmpfs %v, want its socket directory writable", db.Policy.Tmpfs)
	}
	if box.Policy.Preset != policy.Strict || box.Policy.Memory != 512<<20 {
		t.Errorf("instance policy %+v, want strict", box.Policy)
	}

	// A spec's own policy wins over the environment's.
	open, _ := policy.Preset(policy.Standard)
	spec := sleeper("open")
	spec.Policy = open
	insts, err = env.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := inspect(t, engine(t), insts[0].Container.ID()); c.HostConfig.ReadonlyRootfs || c.HostConfig.Memory != 0 {
		t.Errorf("a standard spec in a strict environment: read-only %v, memory %d", c.HostConfig.ReadonlyRootfs, c.HostConfig.Memory)
	}
}

package runner

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"time"

	"github.com/cleanroomhq/cleanroom/suite"
)

// deriveSeed gives a scenario or a step its own seed from its parent's and
// its name, not its place: a scenario keeps its seed when others are added
// before it, reordered or filtered out with --run.
func deriveSeed(parent int64, name string) int64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(parent))
	h.Write(b[:])
	h.Write([]byte(name))
	// 53 bits: the report's JSON readers that keep numbers as doubles
	// (JavaScript's) read them back exactly.
	return int64(h.Sum64() & (1<<53 - 1))
}

// stepSeeds derives the seed of each step of a scenario. Two steps with the
// same name are told apart by how many came before them.
func stepSeeds(scenario int64, steps []*suite.Step) map[*suite.Step]int64 {
	out := make(map[*suite.Step]int64, len(steps))
	seen := map[string]int{}
	for _, st := range steps {
		name := st.Name.Value
		if n := seen[name]; n > 0 {
			name = fmt.Sprintf("%s\x00%d", name, n)
		}
		seen[st.Name.Value]++
		out[st] = deriveSeed(scenario, name)
	}
	return out
}

// containerEnv is what every container and exec gets beside its own env,
// so that what it does depends on the seed and not on the machine: the
// seed, UTC and a UTF-8 C locale (unless its env says otherwise), and the
// frozen time when the suite gives one. Containers still read their own
// clock; CLEANROOM_TIME is for programs that ask for it.
func containerEnv(env map[string]string, seed int64, frozen time.Time) map[string]string {
	out := make(map[string]string, len(env)+4)
	out["TZ"] = "UTC"
	out["LANG"] = "C.UTF-8"
	maps.Copy(out, env)
	out["CLEANROOM_SEED"] = fmt.Sprint(seed)
	if !frozen.IsZero() {
		out["CLEANROOM_TIME"] = frozen.Format(time.RFC3339Nano)
	}
	return out
}

package docker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/cgroupfs"
)

// Stats samples the container's kernel counters.
//
// When the engine runs on this machine, Stats reads the container's cgroup
// files and its network namespace's /proc/PID/net/dev directly: the
// kernel counters the engine would report, in well under a millisecond.
// The engine is slow to ask: it gathers stats of all containers in one collector loop that rests
// a second after each round, and a request waits for the next round, so a
// call within a second of another stats request to the same engine (for
// any container) takes the rest of that second. Sampling every step at its
// start and end would add that second to every step.
//
// Otherwise (an engine on another machine, files this process may not
// read) Stats asks the engine, one-shot: the engine skips the second sample
// it otherwise takes to prime CPU deltas (cleanroom computes deltas from
// its own samples).
//
// A container that is not running has no sample; Stats then returns a
// *errs.BackendError.
func (c *dockerContainer) Stats(ctx context.Context) (backend.Stats, error) {
	s, _, err := c.stats(ctx)
	return s, err
}

// statsSource says where a sample came from, for tests.
type statsSource string

const (
	fromCgroup statsSource = "cgroup files"
	fromEngine statsSource = "engine API"
)

func (c *dockerContainer) stats(ctx context.Context) (backend.Stats, statsSource, error) {
	hostMem, err := c.b.hostMemory(ctx)
	if err != nil {
		return backend.Stats{}, fromEngine, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: err}
	}
	if files := c.cgroupFiles(ctx, hostMem); files != nil {
		s, err := files.Stats(hostMem)
		if err == nil {
			return s, fromCgroup, nil
		}
		// The container stopped, or restarted with another init
		// process: find out again on the next call, and let the engine
		// say what happened now.
		c.forgetCgroup()
	}
	s, err := c.engineStats(ctx, hostMem)
	return s, fromEngine, err
}

// cgroupFiles finds the container's cgroup files from its init process,
// once per container (dockerContainer.cg); nil when they cannot be read,
// which is remembered too: an engine elsewhere stays elsewhere.
func (c *dockerContainer) cgroupFiles(ctx context.Context, hostMem int64) *cgroupfs.Files {
	c.mu.Lock()
	files, known := c.cg, c.cgKnown
	c.mu.Unlock()
	if known {
		return files
	}
	res, err := c.b.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil || res.Container.State == nil || !res.Container.State.Running || res.Container.State.Pid <= 0 {
		return nil // the engine reports what is wrong; nothing to remember
	}
	files, err = cgroupfs.Resolve(os.DirFS("/"), res.Container.State.Pid, c.id)
	if err == nil {
		// Files found may still be unreadable: a runner in a container
		// may see the engine's processes but not its cgroup filesystem.
		if _, err = files.Stats(hostMem); err != nil {
			files = nil
		}
	} else {
		files = nil
	}
	c.mu.Lock()
	c.cg, c.cgKnown = files, true
	c.mu.Unlock()
	return files
}

// forgetCgroup makes the next sample look for the cgroup files again.
func (c *dockerContainer) forgetCgroup() {
	c.mu.Lock()
	c.cg, c.cgKnown = nil, false
	c.mu.Unlock()
}

// engineStats takes one sample through the engine's stats API.
func (c *dockerContainer) engineStats(ctx context.Context, hostMem int64) (backend.Stats, error) {
	res, err := c.b.cli.ContainerStats(ctx, c.id, client.ContainerStatsOptions{Stream: false, IncludePreviousSample: false})
	if err != nil {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: err}
	}
	defer res.Body.Close()
	var raw container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: err}
	}
	if raw.Read.IsZero() {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: errNotRunning}
	}
	return convertStats(raw, hostMem), nil
}

var errNotRunning = errors.New("container is not running")

// convertStats turns the engine's sample into backend.Stats. hostMem is the
// engine's total memory, which it reports as the limit of a container
// without one; 0 when unknown.
func convertStats(raw container.StatsResponse, hostMem int64) backend.Stats {
	s := backend.Stats{
		At:   raw.Read,
		CPU:  time.Duration(raw.CPUStats.CPUUsage.TotalUsage),
		Pids: cgroupfs.Clamp(raw.PidsStats.Current),
	}
	if raw.OSType == "windows" {
		s.CPU *= 100 // 100 ns units
	}

	mem := raw.MemoryStats
	s.Memory = cgroupfs.Clamp(memoryInUse(mem))
	s.MemoryPeak = cgroupfs.Clamp(mem.MaxUsage) // cgroup v1 only
	s.MemoryLimit = cgroupfs.LimitOrZero(mem.Limit, hostMem)
	s.PidsLimit = cgroupfs.LimitOrZero(raw.PidsStats.Limit, 0)
	s.MemoryLimitHits = mem.Failcnt
	if s.MemoryLimitHits == 0 {
		// cgroup v2 has no failcnt; some engines pass memory.events on.
		s.MemoryLimitHits = max(mem.Stats["oom"], mem.Stats["oom_kill"])
	}
	// Docker reports neither OOM kills nor refused forks; other engines
	// may pass memory.events on. PidsLimitHits stays 0.
	s.OOMKills = mem.Stats["oom_kill"]

	for _, n := range raw.Networks {
		s.NetRx += n.RxBytes
		s.NetTx += n.TxBytes
	}
	// cgroup v1 reports ops "Read", "Write", "Sync", "Async", "Total" per
	// device; cgroup v2 reports "read" and "write".
	for _, e := range raw.BlkioStats.IoServiceBytesRecursive {
		switch {
		case strings.EqualFold(e.Op, "read"):
			s.BlockRead += e.Value
		case strings.EqualFold(e.Op, "write"):
			s.BlockWrite += e.Value
		}
	}
	return s
}

// memoryInUse follows `docker stats`: the usage less the inactive page
// cache, which the kernel reclaims before it would fail an allocation.
func memoryInUse(mem container.MemoryStats) uint64 {
	// cgroup v1
	if v, ok := mem.Stats["total_inactive_file"]; ok && v < mem.Usage {
		return mem.Usage - v
	}
	// cgroup v2
	if v, ok := mem.Stats["inactive_file"]; ok && v < mem.Usage {
		return mem.Usage - v
	}
	return mem.Usage
}

// hostMemory is the engine's total memory, asked once per Backend: it does
// not change while the engine runs, and asking on every sample would add an
// engine call to every step.
func (b *Backend) hostMemory(ctx context.Context) (int64, error) {
	b.memMu.Lock()
	defer b.memMu.Unlock()
	if b.memTotal > 0 {
		return b.memTotal, nil
	}
	info, err := b.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return 0, err
	}
	b.memTotal = info.Info.MemTotal
	return b.memTotal, nil
}

// State inspects the container.
func (c *dockerContainer) State(ctx context.Context) (backend.State, error) {
	res, err := c.b.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil {
		return backend.State{}, &errs.BackendError{Backend: Name, Op: "state", Target: c.name, Err: err}
	}
	st := res.Container.State
	if st == nil {
		return backend.State{}, &errs.BackendError{Backend: Name, Op: "state", Target: c.name, Err: errors.New("the engine reported no state")}
	}
	return backend.State{
		ImageID:    res.Container.Image,
		Running:    st.Running,
		ExitCode:   st.ExitCode,
		OOMKilled:  st.OOMKilled,
		Error:      st.Error,
		StartedAt:  engineTime(st.StartedAt),
		FinishedAt: engineTime(st.FinishedAt),
	}, nil
}

// engineTime parses the engine's RFC 3339 times. The engine writes the zero
// time as "0001-01-01T00:00:00Z" for what has not happened yet; that, like
// anything unparsable, is the zero time.Time.
func engineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
